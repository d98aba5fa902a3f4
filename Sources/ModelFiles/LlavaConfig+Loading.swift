import Foundation
import Formats
import Models

extension LlavaConfig {
    /// Reads `config.json` from a Hugging Face LLaVA model directory.
    package static func load(directory: URL) throws -> LlavaConfig {
        let file = try readConfigFile(directory: directory, layout: "LLaVA")
        return try parse(file.bytes, source: file.path)
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
        // transformers 5.x moves rope_theta into rope_parameters.
        let ropeParameters = try fields.object("rope_parameters")
        try self.init(decoderFields: fields, defaults: .llama,
                      ropeTheta: try fields.double("rope_theta", default: ropeParameters.double("rope_theta", default: 10000)))
    }
}
