import Foundation
import Kernels

extension LlavaConfig {
    /// Reads `config.json` from a Hugging Face LLaVA model directory.
    public static func load(directory: URL) throws -> LlavaConfig {
        let file = directory.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw ModelConfigError("\(file.path): not found. A model directory needs config.json (Hugging Face LLaVA layout).")
        }
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw ModelConfigError("\(file.path): cannot be read: \(error.localizedDescription)")
        }
        return try parse(data, source: file.path)
    }

    /// Decodes config.json text; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> LlavaConfig {
        let root = try JSONFields(data: data, source: source)
        let modelType = try root.string("model_type", default: "llava")
        guard modelType == "llava" else {
            throw ModelConfigError("\(source): model_type is '\(modelType)'; Discern loads LLaVA models (model_type \"llava\").")
        }
        let visionFields = try root.object("vision_config")
        let textFields = try root.object("text_config")
        let vision = try CLIPVisionConfig(fields: visionFields, source: source)
        var text = try LlamaConfig(fields: textFields, source: source)
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

    func validate(source: String) throws {
        func fail(_ message: String) -> ModelConfigError { ModelConfigError("\(source): \(message)") }
        guard ["default", "full"].contains(visionFeatureSelectStrategy) else {
            throw fail("vision_feature_select_strategy '\(visionFeatureSelectStrategy)' is not supported; use \"default\" or \"full\".")
        }
        guard ActivationFunction(huggingFaceName: projectorHiddenAct) != nil else {
            throw fail("projector_hidden_act '\(projectorHiddenAct)' is not supported (gelu, gelu_pytorch_tanh, quick_gelu, silu).")
        }
        let index = visionFeatureHiddenStateIndex
        guard index >= 1 && index <= vision.numHiddenLayers else {
            throw fail("vision_feature_layer \(visionFeatureLayer) does not select an encoder layer of a \(vision.numHiddenLayers)-layer vision tower.")
        }
        guard vision.hiddenSize % vision.numAttentionHeads == 0 else {
            throw fail("vision_config.hidden_size \(vision.hiddenSize) is not divisible by num_attention_heads \(vision.numAttentionHeads).")
        }
        guard vision.imageSize % vision.patchSize == 0 else {
            throw fail("vision_config.image_size \(vision.imageSize) is not a multiple of patch_size \(vision.patchSize).")
        }
        guard ["quick_gelu", "gelu", "gelu_pytorch_tanh"].contains(vision.hiddenAct) else {
            throw fail("vision_config.hidden_act '\(vision.hiddenAct)' is not supported (quick_gelu, gelu, gelu_pytorch_tanh).")
        }
        guard text.hiddenAct == "silu" else {
            throw fail("text_config.hidden_act '\(text.hiddenAct)' is not supported; Llama uses \"silu\".")
        }
        guard text.numAttentionHeads % text.numKeyValueHeads == 0 else {
            throw fail("text_config.num_attention_heads \(text.numAttentionHeads) is not a multiple of num_key_value_heads \(text.numKeyValueHeads).")
        }
        guard text.headDim % 2 == 0 else { throw fail("text_config head_dim \(text.headDim) must be even for rotary embeddings.") }
        // The placeholder id may lie past vocab_size: its positions are filled with image
        // features and never looked up in the embedding table.
        guard imageTokenIndex >= 0 else { throw fail("image_token_index \(imageTokenIndex) must not be negative.") }
    }
}

extension CLIPVisionConfig {
    init(fields: JSONFields, source: String) throws {
        let modelType = try fields.string("model_type", default: "clip_vision_model")
        guard modelType == "clip_vision_model" else {
            throw ModelConfigError("\(source): vision_config.model_type is '\(modelType)'; Discern supports CLIP vision towers (\"clip_vision_model\").")
        }
        // transformers' LlavaConfig replaces a MISSING vision_config with CLIP ViT-L/14-336; a
        // present but partial one takes CLIPVisionConfig's own defaults (ViT-B/32).
        let absent = fields.isAbsent
        hiddenSize = try fields.int("hidden_size", default: absent ? 1024 : 768)
        intermediateSize = try fields.int("intermediate_size", default: absent ? 4096 : 3072)
        numHiddenLayers = try fields.int("num_hidden_layers", default: absent ? 24 : 12)
        numAttentionHeads = try fields.int("num_attention_heads", default: absent ? 16 : 12)
        numChannels = try fields.int("num_channels", default: 3)
        imageSize = try fields.int("image_size", default: absent ? 336 : 224)
        patchSize = try fields.int("patch_size", default: absent ? 14 : 32)
        hiddenAct = try fields.string("hidden_act", default: "quick_gelu")
        layerNormEps = try fields.double("layer_norm_eps", default: 1e-5)
    }
}

extension LlamaConfig {
    init(fields: JSONFields, source: String) throws {
        let modelType = try fields.string("model_type", default: "llama")
        guard modelType == "llama" else {
            throw ModelConfigError("\(source): text_config.model_type is '\(modelType)'; Discern supports Llama language models (\"llama\").")
        }
        if let scaling = fields.raw["rope_scaling"], !(scaling is NSNull) {
            throw ModelConfigError("\(source): text_config.rope_scaling is set; scaled RoPE variants are not supported yet. Remove it or use a model without it.")
        }
        vocabSize = try fields.int("vocab_size", default: 32000)
        hiddenSize = try fields.int("hidden_size", default: 4096)
        intermediateSize = try fields.int("intermediate_size", default: 11008)
        numHiddenLayers = try fields.int("num_hidden_layers", default: 32)
        numAttentionHeads = try fields.int("num_attention_heads", default: 32)
        numKeyValueHeads = try fields.int("num_key_value_heads", default: numAttentionHeads)
        headDim = try fields.int("head_dim", default: hiddenSize / max(numAttentionHeads, 1))
        hiddenAct = try fields.string("hidden_act", default: "silu")
        maxPositionEmbeddings = try fields.int("max_position_embeddings", default: 2048)
        rmsNormEps = try fields.double("rms_norm_eps", default: 1e-6)
        // transformers 5.x moves rope_theta into rope_parameters.
        let ropeParameters = try fields.object("rope_parameters")
        ropeTheta = try fields.double("rope_theta", default: ropeParameters.double("rope_theta", default: 10000))
        attentionBias = try fields.bool("attention_bias", default: false)
        mlpBias = try fields.bool("mlp_bias", default: false)
        tieWordEmbeddings = try fields.bool("tie_word_embeddings", default: false)
        bosTokenId = try fields.int("bos_token_id", default: 1)
        eosTokenId = try fields.int("eos_token_id", default: 2)
        padTokenId = try fields.optionalInt("pad_token_id")
    }
}
