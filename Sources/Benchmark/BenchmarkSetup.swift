import Configuration
import Foundation
import Kernels
import Layers
import ModelFactory
import ModelFiles
import Models
import Training

/// The `bench` section of a configuration: the shape of a random LLaVA-shaped model and of its
/// synthetic batch (docs/performance.md).
package struct BenchmarkSettings: Sendable {
    package var preset: ModelPreset
    package var imageSize: Int
    package var vocabularySize: Int
    package var captionTokens: Int
    package var promptTokens: Int
    package var warmup: Int
    package var weights: BenchConfiguration.Weights

    /// The `bench` section, and the rules that relate its sizes (each is at least 1 by its range).
    package init(_ bench: BenchConfiguration) throws {
        preset = ModelPreset(visionHidden: bench.visionHidden, visionIntermediate: bench.visionIntermediate,
                             visionLayers: bench.visionLayers, visionHeads: bench.visionHeads, patchSize: bench.patchSize,
                             textHidden: bench.textHidden, textIntermediate: bench.textIntermediate, textLayers: bench.textLayers,
                             textHeads: bench.textHeads, textKeyValueHeads: bench.textKeyValueHeads, maxPositions: bench.maxPositions)
        imageSize = bench.imageSize
        vocabularySize = bench.vocabularySize
        captionTokens = bench.captionTokens
        promptTokens = bench.promptTokens
        warmup = bench.warmup
        weights = bench.weights
        guard imageSize % preset.patchSize == 0 else {
            throw ConfigError("bench.image_size \(imageSize) is not a multiple of bench.patch_size \(preset.patchSize).")
        }
        guard preset.visionHidden % preset.visionHeads == 0, preset.textHidden % preset.textHeads == 0,
              preset.textHeads % preset.textKeyValueHeads == 0 else {
            throw ConfigError("bench: the widths must divide by the head counts, and text_heads by text_kv_heads.")
        }
        guard vocabularySize > 4 else { throw ConfigError("bench.vocab_size must be at least 5 (pad, BOS, EOS, image and one word).") }
    }

    /// The 16-bit format of `bench.weights` float16 / bfloat16; nil for `memory`.
    package var halfFormat: HalfFormat? {
        switch weights {
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .memory: return nil
        }
    }

    /// The image token is the vocabulary's last id; 0 pads, 1 is BOS, 2 EOS; captions draw from the rest.
    package var imageTokenID: Int { vocabularySize - 1 }

    package func llavaConfig() throws -> LlavaConfig {
        let text = preset.configJSON(imageSize: imageSize, vocabularySize: vocabularySize, imageTokenID: imageTokenID, padTokenID: 0)
        return try LlavaConfig.parse(Data(text.utf8), source: "the bench section of the configuration")
    }

    /// Prompt templates whose suffixes are `promptTokens` words long, so each soft prompt has
    /// that many rows (the words' ids only initialise them).
    package var templates: PromptTemplates {
        let words = (1...promptTokens).map { "w\($0)" }.joined(separator: " ")
        return PromptTemplates(image: PromptTemplates.imagePlaceholder + " " + words, text: PromptTemplates.textPlaceholder + " " + words)
    }
}

/// The benchmark's tokenizer: one token per space-separated word. `t<N>` is id N, `<image>` the
/// image token, any other word a fixed id derived from its spelling; BOS (1) leads with special
/// tokens. Random captions are then exactly `captionTokens` long, as the PyTorch twin builds them.
struct BenchmarkEncoding: TextEncoding {
    let vocabularySize: Int
    let imageTokenID: Int

    func encodeIDs(_ text: String, addSpecialTokens: Bool) throws -> [Int32] {
        var ids: [Int32] = addSpecialTokens ? [1] : []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if word == PromptTemplates.imagePlaceholder {
                ids.append(Int32(imageTokenID))
            } else if word.first == "t", let id = Int(word.dropFirst()), id >= 3, id < imageTokenID {
                ids.append(Int32(id))
            } else {
                ids.append(Int32(3 + Int(stableHash(String(word)) % UInt64(imageTokenID - 3))))
            }
        }
        return ids
    }
}
