import Foundation
import ModelFiles
import Models

/// A model of either family by its sizes: the presets `discern init-model --preset` knows, by
/// name, and the shapes `discern bench` writes.
package enum InitModelPreset: Sendable, Equatable {
    case llava(ModelPreset)
    case qwen2VL(Qwen2VLPreset)

    package static let names = ["tiny", "tiny-qwen2vl"]

    package static func named(_ name: String) throws -> InitModelPreset {
        switch name {
        case "tiny": return .llava(.tiny)
        case "tiny-qwen2vl": return .qwen2VL(.tiny)
        default:
            throw ModelConfigError("--preset '\(name)' is unknown; the presets are \(names.map { "'\($0)'" }.joined(separator: " and ")) (a LLaVA and a Qwen2-VL).")
        }
    }

    /// The text files of a new model directory of this preset and the config they say, as
    /// loading reads it: config.json and a tokenizer.json covering `words` (TokenizerBuilder for
    /// LLaVA, ByteLevelTokenizerBuilder for Qwen2-VL, which adds preprocessor_config.json).
    ///   vocabularySize: the embedding rows; nil = what the tokenizer needs (Qwen2-VL: rounded
    ///     up to qwen2VLVocabularyMultiple). A given size below the tokenizer's is an error.
    ///   imageSize: LLaVA's one image side (Qwen2-VL's images have their own sizes, within the
    ///     preset's pixel bounds).
    func newModelFiles(vocabularySize: Int?, words: [String], imageSize: Int = 0) throws -> NewModelFiles {
        func rows(needed: Int, _ rounded: Int) throws -> Int {
            guard let vocabularySize else { return rounded }
            guard vocabularySize >= needed else {
                throw ModelConfigError("vocabulary size \(vocabularySize) is smaller than the tokenizer's \(needed) pieces; use at least \(needed).")
            }
            return vocabularySize
        }
        switch self {
        case .llava(let preset):
            let built = try TokenizerBuilder(words: words).build()
            let text = preset.configJSON(imageSize: imageSize, vocabularySize: try rows(needed: built.vocabularySize, built.vocabularySize),
                                         imageTokenID: built.imageTokenID, padTokenID: built.padTokenID)
            return NewModelFiles(texts: ["config.json": text, "tokenizer.json": built.json],
                                 config: try LlavaConfig.parse(Data(text.utf8), source: "model preset config"), padTokenID: built.padTokenID)
        case .qwen2VL(let preset):
            let built = try ByteLevelTokenizerBuilder(words: words).build()
            let multiple = qwen2VLVocabularyMultiple
            let size = try rows(needed: built.tokenCount, (built.tokenCount + multiple - 1) / multiple * multiple)
            let text = preset.configJSON(vocabularySize: size, tokens: built.specialIDs)
            var config = try Qwen2VLConfig.parse(Array(text.utf8), source: "model preset config")
            config.maxPixels = preset.maxPixels
            return NewModelFiles(texts: ["config.json": text, "tokenizer.json": built.json, "preprocessor_config.json": preset.preprocessorJSON],
                                 config: config, padTokenID: nil)
        }
    }
}

/// What `InitModelPreset.newModelFiles` made.
struct NewModelFiles {
    /// File name -> text, for stageModelDirectory.
    let texts: [String: String]
    let config: any VisionLanguageConfig
    /// The tokenizer's pad token, whose embedding row starts at zero (LLaVA's); nil for none.
    let padTokenID: Int?
}

/// One base tensor's initial values for a model of either family, as `discern init-model`
/// draws them: LLaVA's Hugging Face initialisation (initialWeight), Qwen2-VL's
/// initializer_range 0.02 with qwen2VLBiasStd biases.
package func initialTensor(name: String, shape: [Int], config: any VisionLanguageConfig, padTokenID: Int?, seed: UInt64) -> [Float] {
    if let llava = config as? LlavaConfig {
        return initialWeight(name: name, shape: shape, config: llava, padTokenID: padTokenID, seed: seed)
    }
    return randomTensor(name: name, shape: shape, std: 0.02, biasStd: qwen2VLBiasStd, padTokenID: padTokenID, seed: seed)
}
