import Configuration
import Foundation
import Kernels
import Layers
import ModelFactory
import ModelFiles
import Models
import Training

/// The `bench` section of a configuration: the family and shape of a random model and of its
/// synthetic batch (docs/performance.md).
package struct BenchmarkSettings: Sendable {
    package var preset: InitModelPreset
    /// The side of the batch's square images.
    package var imageSize: Int
    package var vocabularySize: Int
    package var captionTokens: Int
    package var promptTokens: Int
    package var warmup: Int
    package var weights: BenchConfiguration.Weights

    /// The `bench` section, and the rules that relate its sizes (each is at least 1 by its range).
    package init(_ bench: BenchConfiguration) throws {
        imageSize = bench.imageSize
        vocabularySize = bench.vocabularySize
        captionTokens = bench.captionTokens
        promptTokens = bench.promptTokens
        warmup = bench.warmup
        weights = bench.weights
        try Self.requireDivides("bench.vision_hidden", bench.visionHidden, by: "bench.vision_heads", bench.visionHeads, why: "each head takes an equal share of the width")
        try Self.requireDivides("bench.text_hidden", bench.textHidden, by: "bench.text_heads", bench.textHeads, why: "each head takes an equal share of the width")
        try Self.requireDivides("bench.text_heads", bench.textHeads, by: "bench.text_kv_heads", bench.textKeyValueHeads,
                                why: "grouped-query attention shares each key/value head among an equal number of query heads")
        switch bench.family {
        case .llava:
            for (key, value) in [("bench.merge_size", bench.mergeSize), ("bench.temporal_patch_size", bench.temporalPatchSize)] where value != 2 {
                throw ConfigError("\(key) is \(value), but it shapes Qwen2-VL models only (bench.family qwen2_vl); leave it at 2 for bench.family llava.")
            }
            try Self.requireDivides("bench.image_size", imageSize, by: "bench.patch_size", bench.patchSize, why: "CLIP cuts the image into whole patches")
            preset = .llava(ModelPreset(visionHidden: bench.visionHidden, visionIntermediate: bench.visionIntermediate,
                                        visionLayers: bench.visionLayers, visionHeads: bench.visionHeads, patchSize: bench.patchSize,
                                        textHidden: bench.textHidden, textIntermediate: bench.textIntermediate, textLayers: bench.textLayers,
                                        textHeads: bench.textHeads, textKeyValueHeads: bench.textKeyValueHeads, maxPositions: bench.maxPositions,
                                        tieWordEmbeddings: bench.tieWordEmbeddings))
        case .qwen2VL:
            preset = .qwen2VL(try Self.qwen2VLPreset(bench))
        }
        let specials = vocabularySize - firstSpecialID
        guard firstSpecialID > 3 else {
            throw ConfigError("bench.vocab_size must be at least \(4 + specials) (pad, BOS, EOS, \(specials == 1 ? "the image token" : "\(specials) special tokens") and one word).")
        }
    }

    /// Qwen2-VL's shape from the `bench` section: the image a whole number of merge windows,
    /// head sizes the rotaries can split, the MLP a whole multiple of the width (mlp_ratio).
    static func qwen2VLPreset(_ bench: BenchConfiguration) throws -> Qwen2VLPreset {
        let factor = bench.patchSize * bench.mergeSize
        guard bench.imageSize % factor == 0 else {
            throw ConfigError("bench.image_size \(bench.imageSize) is not a multiple of bench.patch_size x bench.merge_size = \(factor): Qwen2-VL's merger joins \(bench.mergeSize) x \(bench.mergeSize) patches into one LLM token, so the image must be whole merge windows (e.g. \(max(bench.imageSize / factor, 1) * factor)).")
        }
        let visionHeadSize = bench.visionHidden / bench.visionHeads, textHeadSize = bench.textHidden / bench.textHeads
        guard visionHeadSize % 4 == 0 else {
            throw ConfigError("bench.vision_hidden / bench.vision_heads = \(visionHeadSize) is not a multiple of 4: Qwen2-VL's 2-D rotary rotates a quarter of each head by the patch's row and a quarter by its column.")
        }
        guard textHeadSize % 2 == 0 else {
            throw ConfigError("bench.text_hidden / bench.text_heads = \(textHeadSize) is odd: the rotary embedding rotates pairs of a head's values.")
        }
        try requireDivides("bench.vision_intermediate", bench.visionIntermediate, by: "bench.vision_hidden", bench.visionHidden,
                           why: "Qwen2-VL's vision MLP is vision_hidden x mlp_ratio wide, and the benchmark writes a whole mlp_ratio")
        // The processor bounds of Qwen2-VL's defaults (4 to 1280 merge windows), widened to hold this image.
        let area = bench.imageSize * bench.imageSize
        return Qwen2VLPreset(visionEmbed: bench.visionHidden, visionDepth: bench.visionLayers, visionHeads: bench.visionHeads,
                             mlpRatio: bench.visionIntermediate / bench.visionHidden, patchSize: bench.patchSize, mergeSize: bench.mergeSize,
                             temporalPatchSize: bench.temporalPatchSize, textHidden: bench.textHidden, textIntermediate: bench.textIntermediate,
                             textLayers: bench.textLayers, textHeads: bench.textHeads, textKeyValueHeads: bench.textKeyValueHeads,
                             mropeSection: mropeSection(headSize: textHeadSize), maxPositions: bench.maxPositions,
                             minPixels: min(4 * factor * factor, area), maxPixels: max(1280 * factor * factor, area),
                             tieWordEmbeddings: bench.tieWordEmbeddings)
    }

    /// M-RoPE's split of a text head's head_size / 2 rotary frequencies over (time, height,
    /// width) in Qwen2-VL's proportions: [16, 24, 24] of 64, i.e. 3/8 each to height and width.
    static func mropeSection(headSize: Int) -> [Int] {
        let half = headSize / 2, spatial = half * 3 / 8
        return [half - 2 * spatial, spatial, spatial]
    }

    static func requireDivides(_ key: String, _ value: Int, by divisorKey: String, _ divisor: Int, why: String) throws {
        guard value % divisor != 0 else { return }
        throw ConfigError("\(key) \(value) does not divide by \(divisorKey) \(divisor): \(why).")
    }

    /// The 16-bit format of `bench.weights` float16 / bfloat16; nil for `memory`.
    package var halfFormat: HalfFormat? {
        switch weights {
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .memory: return nil
        }
    }

    // Token ids: 0 pads, 1 is BOS (LLaVA's), 2 EOS; the image token is the vocabulary's last id,
    // Qwen2-VL's video, vision-start and vision-end tokens the three below it; captions draw
    // from 3 ..< firstSpecialID.
    package var imageTokenID: Int { vocabularySize - 1 }
    var firstSpecialID: Int {
        if case .qwen2VL = preset { return vocabularySize - 4 }
        return imageTokenID
    }
    var qwen2VLTokens: [String: Int] {
        ["<|endoftext|>": 2, "<|image_pad|>": imageTokenID, "<|video_pad|>": vocabularySize - 2,
         "<|vision_start|>": vocabularySize - 3, "<|vision_end|>": vocabularySize - 4]
    }

    /// The benchmark's word-level tokenizer with this family's special words.
    var encoding: BenchmarkEncoding {
        switch preset {
        case .llava:
            return BenchmarkEncoding(specialIDs: [(PromptTemplates.imagePlaceholder, Int32(imageTokenID))], wordIDs: 3..<firstSpecialID, addsBOS: true)
        case .qwen2VL:
            // Qwen2's tokenizer adds no BOS.
            return BenchmarkEncoding(specialIDs: ["<|image_pad|>", "<|vision_start|>", "<|vision_end|>"].map { ($0, Int32(qwen2VLTokens[$0]!)) },
                                     wordIDs: 3..<firstSpecialID, addsBOS: false)
        }
    }

    /// What `<image>` in the templates becomes: the family's markup, a word per token for the
    /// word-level tokenizer (Qwen2-VL's image is <|vision_start|>, its tokens, <|vision_end|>).
    var imageMarkup: String {
        switch preset {
        case .llava: return PromptTemplates.imagePlaceholder
        case .qwen2VL: return "<|vision_start|> <|image_pad|> <|vision_end|>"
        }
    }

    /// Each image's grid in patches (Qwen2-VL); nil for LLaVA's one fixed size.
    package var imageGrid: PatchGrid? {
        guard case .qwen2VL(let q) = preset else { return nil }
        return PatchGrid(rows: imageSize / q.patchSize, columns: imageSize / q.patchSize)
    }

    /// LLM positions one image takes.
    package var imageTokensPerImage: Int {
        switch preset {
        case .llava(let l): return (imageSize / l.patchSize) * (imageSize / l.patchSize)
        case .qwen2VL(let q): return (imageSize / q.patchSize / q.mergeSize) * (imageSize / q.patchSize / q.mergeSize)
        }
    }

    /// The embedding row zeroed at initialisation (LLaVA's pad token); Qwen2-VL has none.
    var padTokenID: Int? {
        if case .llava = preset { return 0 }
        return nil
    }

    /// The model's config as Discern's own loader reads it (from the config.json text a written
    /// model directory holds).
    package func modelConfig() throws -> any VisionLanguageConfig {
        let source = "the bench section of the configuration"
        switch preset {
        case .llava(let l):
            let text = l.configJSON(imageSize: imageSize, vocabularySize: vocabularySize, imageTokenID: imageTokenID, padTokenID: 0)
            return try LlavaConfig.parse(Data(text.utf8), source: source)
        case .qwen2VL(let q):
            var config = try Qwen2VLConfig.parse(Array(q.configJSON(vocabularySize: vocabularySize, tokens: qwen2VLTokens).utf8), source: source)
            config.maxPixels = q.maxPixels
            return config
        }
    }

    /// The random 16-bit model directory this section asks for; nil for weights made in memory.
    package func randomModelRequest(seed: UInt64) -> RandomHalfModelRequest? {
        halfFormat.map { RandomHalfModelRequest(preset: preset, imageSize: imageSize, vocabularySize: vocabularySize, format: $0, seed: seed) }
    }

    /// Prompt templates whose suffixes are `promptTokens` words long, so each soft prompt has
    /// that many rows (the words' ids only initialise them).
    package var templates: PromptTemplates {
        let words = (1...promptTokens).map { "w\($0)" }.joined(separator: " ")
        return PromptTemplates(image: PromptTemplates.imagePlaceholder + " " + words, text: PromptTemplates.textPlaceholder + " " + words)
    }
}

/// The benchmark's tokenizer: one token per space-separated word. A special word is its id,
/// `t<N>` is id N when N is a word id, any other word a fixed word id derived from its
/// spelling; with special tokens BOS (1) leads where the family has one. Random captions are
/// then exactly `captionTokens` long, as the PyTorch twin builds them.
struct BenchmarkEncoding: TextEncoding {
    /// (word, id) of the image token and the family's markers; a list, searched without
    /// making a String of each word (the step's preparation is counted).
    let specialIDs: [(String, Int32)]
    let wordIDs: Range<Int>
    let addsBOS: Bool

    func encodeIDs(_ text: String, addSpecialTokens: Bool) throws -> [Int32] {
        var ids: [Int32] = addSpecialTokens && addsBOS ? [1] : []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if let special = specialIDs.first(where: { $0.0 == word }) {
                ids.append(special.1)
            } else if word.first == "t", let id = Int(word.dropFirst()), wordIDs.contains(id) {
                ids.append(Int32(id))
            } else {
                ids.append(Int32(wordIDs.lowerBound + Int(stableHash(String(word)) % UInt64(wordIDs.count))))
            }
        }
        return ids
    }
}
