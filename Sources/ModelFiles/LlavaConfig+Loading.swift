import Foundation
import Formats
import Models

extension LlavaConfig {
    /// Reads `config.json` from a Hugging Face LLaVA model directory.
    package static func load(directory: URL) throws -> LlavaConfig {
        let file = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ModelConfigError("\(file.path): not found. A model directory needs config.json (Hugging Face LLaVA layout).")
        }
        return try parse(try readFileBytes(file.path), source: file.path)
    }

    /// Decodes config.json text; `source` names it in errors.
    package static func parse(_ data: Data, source: String) throws -> LlavaConfig {
        try parse([UInt8](data), source: source)
    }

    /// Decodes config.json bytes through the strict JSON parser, then checks every value the
    /// model uses (LlavaConfig+Validation) before anything is computed from it.
    package static func parse(_ bytes: [UInt8], source: String) throws -> LlavaConfig {
        let root = try ConfigObject(JSONNode.parse(bytes, file: source))
        let modelType = try root.string("model_type", default: "llava")
        guard modelType == "llava" else {
            throw ModelConfigError("\(source): model_type is '\(modelType)'; Discern loads LLaVA models (model_type \"llava\").")
        }
        let vision = try CLIPVisionConfig(fields: try root.object("vision_config"), source: source)
        var text = try LlamaConfig(fields: try root.object("text_config"), source: source)
        // transformers 4.x keeps tie_word_embeddings on the text config, 5.x may put it on top.
        let tie = try root.bool("tie_word_embeddings", default: text.tieWordEmbeddings)
        text.tieWordEmbeddings = tie
        let imageToken = try root.int("image_token_index", default: root.int("image_token_id", default: 32000))
        let config = LlavaConfig(
            vision: vision, text: text, imageTokenIndex: imageToken,
            projectorHiddenAct: try root.string("projector_hidden_act", default: "gelu"),
            projectorBias: try root.bool("multimodal_projector_bias", default: true),
            visionFeatureLayer: try root.int("vision_feature_layer", default: -2),
            visionFeatureSelectStrategy: try root.string("vision_feature_select_strategy", default: "default"),
            tieWordEmbeddings: tie)
        try config.validate(source: source)
        return config
    }
}

extension CLIPVisionConfig {
    init(fields: ConfigObject, source: String) throws {
        let modelType = try fields.string("model_type", default: "clip_vision_model")
        guard modelType == "clip_vision_model" else {
            throw ModelConfigError("\(source): vision_config.model_type is '\(modelType)'; Discern supports CLIP vision towers (\"clip_vision_model\").")
        }
        // transformers' LlavaConfig replaces a MISSING vision_config with CLIP ViT-L/14-336; a
        // present but partial one takes CLIPVisionConfig's own defaults (ViT-B/32).
        let absent = fields.isAbsent
        self.init(hiddenSize: try fields.int("hidden_size", default: absent ? 1024 : 768),
                  intermediateSize: try fields.int("intermediate_size", default: absent ? 4096 : 3072),
                  numHiddenLayers: try fields.int("num_hidden_layers", default: absent ? 24 : 12),
                  numAttentionHeads: try fields.int("num_attention_heads", default: absent ? 16 : 12),
                  numChannels: try fields.int("num_channels", default: 3),
                  imageSize: try fields.int("image_size", default: absent ? 336 : 224),
                  patchSize: try fields.int("patch_size", default: absent ? 14 : 32),
                  hiddenAct: try fields.string("hidden_act", default: "quick_gelu"),
                  layerNormEps: try fields.double("layer_norm_eps", default: 1e-5))
    }
}

extension LlamaConfig {
    init(fields: ConfigObject, source: String) throws {
        let modelType = try fields.string("model_type", default: "llama")
        guard modelType == "llama" else {
            throw ModelConfigError("\(source): text_config.model_type is '\(modelType)'; Discern supports Llama language models (\"llama\").")
        }
        if fields.isPresent("rope_scaling") {
            throw ModelConfigError("\(source): text_config.rope_scaling is set; scaled RoPE variants are not supported yet. Remove it or use a model without it.")
        }
        let hiddenSize = try fields.int("hidden_size", default: 4096)
        let numAttentionHeads = try fields.int("num_attention_heads", default: 32)
        // transformers derives head_dim by floor division; here it must be exact (or given).
        var derivedHeadDim = 0
        if numAttentionHeads > 0 {
            derivedHeadDim = hiddenSize / numAttentionHeads
            if !fields.isPresent("head_dim") && hiddenSize % numAttentionHeads != 0 {
                throw ModelConfigError("\(source): text_config.hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads); fix the sizes or give head_dim explicitly.")
            }
        }
        // transformers 5.x moves rope_theta into rope_parameters.
        let ropeParameters = try fields.object("rope_parameters")
        self.init(vocabSize: try fields.int("vocab_size", default: 32000), hiddenSize: hiddenSize,
                  intermediateSize: try fields.int("intermediate_size", default: 11008),
                  numHiddenLayers: try fields.int("num_hidden_layers", default: 32), numAttentionHeads: numAttentionHeads,
                  numKeyValueHeads: try fields.int("num_key_value_heads", default: numAttentionHeads),
                  headDim: try fields.int("head_dim", default: derivedHeadDim),
                  hiddenAct: try fields.string("hidden_act", default: "silu"),
                  maxPositionEmbeddings: try fields.int("max_position_embeddings", default: 2048),
                  rmsNormEps: try fields.double("rms_norm_eps", default: 1e-6),
                  ropeTheta: try fields.double("rope_theta", default: ropeParameters.double("rope_theta", default: 10000)),
                  attentionBias: try fields.bool("attention_bias", default: false),
                  mlpBias: try fields.bool("mlp_bias", default: false),
                  tieWordEmbeddings: try fields.bool("tie_word_embeddings", default: false),
                  bosTokenId: try fields.int("bos_token_id", default: 1), eosTokenId: try fields.int("eos_token_id", default: 2),
                  padTokenId: try fields.optionalInt("pad_token_id"))
    }
}

/// One object of config.json with transformers' defaults: a missing or null field takes the
/// caller's default, a field of the wrong type is an error naming the file and the key path.
struct ConfigObject {
    let node: JSONObjectNode?
    let path: String
    let file: String
    /// True when the object itself was missing (so defaults for "absent section" apply).
    var isAbsent: Bool { node == nil }

    init(_ root: JSONNode) throws {
        node = try root.object()
        path = ""
        file = root.file
    }

    private init(node: JSONObjectNode?, path: String, file: String) {
        self.node = node
        self.path = path
        self.file = file
    }

    func isPresent(_ name: String) -> Bool { node?.optional(name) != nil }

    func object(_ name: String) throws -> ConfigObject {
        let childPath = path.isEmpty ? name : "\(path).\(name)"
        return ConfigObject(node: try node?.optional(name)?.object(), path: childPath, file: file)
    }

    /// An integer; an integral number written with a fraction (`24.0`) is accepted as before.
    func optionalInt(_ name: String) throws -> Int? {
        guard let field = node?.optional(name) else { return nil }
        if case .double(let number) = field.value, number == number.rounded(), abs(number) < 0x1p53 { return Int(number) }
        return try field.integer()
    }

    func int(_ name: String, default fallback: Int) throws -> Int { try optionalInt(name) ?? fallback }

    func double(_ name: String, default fallback: Double) throws -> Double {
        try node?.optional(name)?.double() ?? fallback
    }

    func bool(_ name: String, default fallback: Bool) throws -> Bool {
        try node?.optional(name)?.bool() ?? fallback
    }

    func string(_ name: String, default fallback: String) throws -> String {
        try node?.optional(name)?.string() ?? fallback
    }
}
