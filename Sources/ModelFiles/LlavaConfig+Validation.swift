import Kernels
import Models

extension LlavaConfig {
    /// Every value the model computes with, checked before anything is derived from it: a bad
    /// value is an error naming the file, the key, the value and the allowed range.
    func validate(source: String) throws {
        try vision.validate(source: source)
        try text.validate(source: source)
        let rule = ConfigRule(source: source)
        guard ["default", "full"].contains(visionFeatureSelectStrategy) else {
            throw rule.failure("vision_feature_select_strategy '\(visionFeatureSelectStrategy)' is not supported; use \"default\" or \"full\".")
        }
        guard ActivationFunction(huggingFaceName: projectorHiddenAct) != nil else {
            throw rule.failure("projector_hidden_act '\(projectorHiddenAct)' is not supported (gelu, gelu_pytorch_tanh, quick_gelu, silu).")
        }
        let layers = vision.numHiddenLayers
        try rule.require(visionFeatureLayer >= -layers && visionFeatureLayer <= layers && visionFeatureHiddenStateIndex >= 1,
                         "vision_feature_layer", visionFeatureLayer,
                         "it must select an encoder layer of the \(layers)-layer vision tower (1 to \(layers), or -\(layers) to -1 counting from the end)")
        // The placeholder id may lie past vocab_size: its positions are filled with image
        // features and never looked up in the embedding table. Token ids are Int32 everywhere.
        try rule.require(imageTokenIndex >= 0 && imageTokenIndex <= Int(Int32.max), "image_token_index", imageTokenIndex,
                         "it must be a token id from 0 to \(Int32.max)")
        // One image prompt holds the image's positions plus at least one text token.
        try rule.require(text.maxPositionEmbeddings > imageTokensPerImage, "text_config.max_position_embeddings", text.maxPositionEmbeddings,
                         "it must exceed the \(imageTokensPerImage) positions one image takes (vision_config image_size / patch_size squared)")
    }
}

extension CLIPVisionConfig {
    func validate(source: String) throws {
        let rule = ConfigRule(source: source, prefix: "vision_config.")
        try rule.positive("hidden_size", hiddenSize, upTo: ConfigLimits.width)
        try rule.positive("intermediate_size", intermediateSize, upTo: ConfigLimits.width)
        try rule.positive("num_hidden_layers", numHiddenLayers, upTo: ConfigLimits.layers)
        try rule.require(numAttentionHeads > 0 && hiddenSize % numAttentionHeads == 0, "vision_config.num_attention_heads", numAttentionHeads,
                         "it must be a positive divisor of hidden_size (\(hiddenSize))")
        try rule.require(numChannels == 3, "vision_config.num_channels", numChannels, "Discern feeds RGB images, so it must be 3")
        try rule.positive("image_size", imageSize, upTo: ConfigLimits.imageSide)
        try rule.require(patchSize > 0 && imageSize % patchSize == 0, "vision_config.patch_size", patchSize,
                         "it must be a positive divisor of image_size (\(imageSize))")
        try rule.positiveFinite("layer_norm_eps", layerNormEps)
        guard ["quick_gelu", "gelu", "gelu_pytorch_tanh"].contains(hiddenAct) else {
            throw rule.failure("vision_config.hidden_act '\(hiddenAct)' is not supported (quick_gelu, gelu, gelu_pytorch_tanh).")
        }
    }
}

extension LlamaConfig {
    /// `prefix` is where the decoder's keys live: "text_config." (Qwen2-VL's older files: "").
    func validate(source: String, prefix: String = "text_config.") throws {
        let rule = ConfigRule(source: source, prefix: prefix)
        try rule.positive("vocab_size", vocabSize, upTo: Int(Int32.max))
        try rule.positive("hidden_size", hiddenSize, upTo: ConfigLimits.width)
        try rule.positive("intermediate_size", intermediateSize, upTo: ConfigLimits.width)
        try rule.positive("num_hidden_layers", numHiddenLayers, upTo: ConfigLimits.layers)
        try rule.positive("num_attention_heads", numAttentionHeads, upTo: ConfigLimits.width)
        try rule.require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, prefix + "num_key_value_heads", numKeyValueHeads,
                         "it must be a positive divisor of num_attention_heads (\(numAttentionHeads))")
        try rule.require(headDim > 0 && headDim % 2 == 0 && headDim <= ConfigLimits.width / numAttentionHeads, prefix + "head_dim", headDim,
                         "it must be positive and even (rotary embeddings rotate pairs), with num_attention_heads x head_dim at most \(ConfigLimits.width)")
        try rule.positive("max_position_embeddings", maxPositionEmbeddings, upTo: ConfigLimits.positions)
        try rule.positiveFinite("rms_norm_eps", rmsNormEps)
        try rule.positiveFinite("rope_theta", ropeTheta)
        guard hiddenAct == "silu" else {
            throw rule.failure("\(prefix)hidden_act '\(hiddenAct)' is not supported; Llama-style decoders (Llama, Qwen2) use \"silu\".")
        }
        // A negative pad_token_id means "no pad token" in older Llama configs (-1); Discern never
        // pads with it, so only a non-negative one must name a real token.
        let pad = padTokenId.flatMap { $0 < 0 ? nil : $0 } ?? 0
        for (key, id) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId), ("pad_token_id", pad)] {
            try rule.require(id >= 0 && id < vocabSize, prefix + key, id, "it must be a token id inside the vocabulary, 0 to \(vocabSize - 1) (vocab_size \(vocabSize))")
        }
    }
}
