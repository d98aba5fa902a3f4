import ArgumentParser
import Foundation
import ModelFactory
import Synthetic

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a freshly initialised LLaVA model directory (config.json, tokenizer.json, model.safetensors).",
        discussion: """
            The tokenizer holds one piece per word of the synthetic captions and the E5-V prompts; the weights are \
            random in the Hugging Face manner. The directory loads in Discern and in transformers \
            (LlavaForConditionalGeneration.from_pretrained).
            """)

    @Option(help: "Model size preset (tiny).")
    var preset = "tiny"

    @Option(help: "Directory to create.", transform: expandedPath)
    var output: String

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 0

    @Option(help: "Vision tower input size in pixels (a multiple of the patch size 8); match the synthetic data.")
    var imageSize = 32

    @Flag(help: "Replace an existing non-empty output directory.")
    var force = false

    func run() throws {
        let summary = try writeInitialModel(preset: try ModelPreset.named(preset), directory: output,
                                            words: SyntheticVocabulary.words, imageSize: imageSize, seed: seed, force: force)
        let c = summary.config
        func millions(_ count: Int) -> String { String(format: "%9d (%.2fM)", count, Double(count) / 1e6) }
        print("Wrote \(summary.directory)")
        print("  vision     \(millions(summary.visionParameters))  CLIP \(c.vision.hiddenSize) wide, \(c.vision.numHiddenLayers) layers (\(c.visionLayersUsed) used), \(c.vision.imageSize)px / patch \(c.vision.patchSize) = \(c.imageTokensPerImage) image tokens")
        print("  projector  \(millions(summary.projectorParameters))  \(c.vision.hiddenSize) -> \(c.text.hiddenSize) -> \(c.text.hiddenSize), \(c.projectorHiddenAct)")
        print("  language   \(millions(summary.languageParameters))  Llama \(c.text.hiddenSize) wide, \(c.text.numHiddenLayers) layers, \(c.text.numAttentionHeads) heads / \(c.text.numKeyValueHeads) kv, vocab \(c.text.vocabSize)")
        print("  total      \(millions(summary.totalParameters))  float32, seed \(seed), <image> = \(c.imageTokenIndex)")
    }
}
