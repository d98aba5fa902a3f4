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
public struct BenchmarkSettings: Sendable {
    public var preset: ModelPreset
    public var imageSize: Int
    public var vocabularySize: Int
    public var captionTokens: Int
    public var promptTokens: Int
    public var warmup: Int
    public var weights: String

    public init(_ config: ResolvedConfig) throws {
        func positive(_ key: String) throws -> Int {
            let value = config.int("bench." + key)
            guard value > 0 else { throw ConfigError("bench.\(key) must be positive, got \(value).") }
            return value
        }
        preset = ModelPreset(visionHidden: try positive("vision_hidden"), visionIntermediate: try positive("vision_intermediate"),
                             visionLayers: try positive("vision_layers"), visionHeads: try positive("vision_heads"),
                             patchSize: try positive("patch_size"), textHidden: try positive("text_hidden"),
                             textIntermediate: try positive("text_intermediate"), textLayers: try positive("text_layers"),
                             textHeads: try positive("text_heads"), textKeyValueHeads: try positive("text_kv_heads"),
                             maxPositions: try positive("max_positions"))
        imageSize = try positive("image_size")
        vocabularySize = try positive("vocab_size")
        captionTokens = try positive("caption_tokens")
        promptTokens = try positive("prompt_tokens")
        warmup = max(config.int("bench.warmup"), 0)
        weights = config.string("bench.weights")
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
    public var halfFormat: HalfFormat? {
        switch weights {
        case "float16": return .float16
        case "bfloat16": return .bfloat16
        default: return nil
        }
    }

    /// The image token is the vocabulary's last id; 0 pads, 1 is BOS, 2 EOS; captions draw from the rest.
    public var imageTokenID: Int { vocabularySize - 1 }

    public func llavaConfig() throws -> LlavaConfig {
        let text = preset.configJSON(imageSize: imageSize, vocabularySize: vocabularySize, imageTokenID: imageTokenID, padTokenID: 0)
        return try LlavaConfig.parse(Data(text.utf8), source: "the bench section of the configuration")
    }

    /// Prompt templates whose suffixes are `promptTokens` words long, so each soft prompt has
    /// that many rows (the words' ids only initialise them).
    public var templates: PromptTemplates {
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
