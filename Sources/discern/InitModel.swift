import ArgumentParser
import Foundation
import ModelFactory
import Synthetic

struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a freshly initialised LLaVA or Qwen2-VL model directory (config.json, tokenizer.json, model.safetensors).",
        discussion: """
            The tokenizer holds one piece per word of the synthetic captions and the E5-V prompts; the weights are \
            random in the Hugging Face manner. 'tiny' is a LLaVA (CLIP + projector + Llama) that loads in \
            transformers' LlavaForConditionalGeneration; 'tiny-qwen2vl' is a Qwen2-VL (vision transformer + merger + \
            Qwen2 with M-RoPE, byte-level BPE tokenizer, preprocessor_config.json) that loads in \
            Qwen2VLForConditionalGeneration.
            """)

    @Option(help: "Model preset: \(InitModelPreset.names.joined(separator: " or ")).")
    var preset = "tiny"

    @Option(help: "Directory to create.", transform: expandedPath)
    var output: String

    @Option(help: "Seed of the random weights.")
    var seed: UInt64 = 0

    @Option(help: "LLaVA only: vision tower input size in pixels (a multiple of the patch size 8, default 32); match the synthetic data.")
    var imageSize: Int?

    @Flag(help: "Replace an existing non-empty output directory.")
    var force = false

    func run() throws {
        let summary: InitialModelSummary
        switch try InitModelPreset.named(preset) {
        case .llava(let sizes):
            summary = try writeInitialModel(preset: sizes, directory: output, words: SyntheticVocabulary.words, imageSize: imageSize ?? 32,
                                            seed: seed, force: force)
        case .qwen2VL(let sizes):
            if let imageSize {
                throw ValidationError("--image-size \(imageSize): the Qwen2-VL preset keeps every image at its own size (between "
                                      + "preprocessor_config.json's min and max pixels), so it takes no image size; leave --image-size out.")
            }
            summary = try writeInitialQwen2VLModel(preset: sizes, directory: output, words: SyntheticVocabulary.words, seed: seed, force: force)
        }
        print("Wrote \(summary.directory)")
        for line in summary.lines(seed: seed) { print("  " + line) }
    }
}
