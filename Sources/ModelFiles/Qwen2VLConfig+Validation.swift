import Kernels
import Models

extension Qwen2VLConfig {
    /// Every value the model computes with, checked before anything is derived from it: a bad
    /// value is an error naming the file, the key, the value and the allowed range. The text
    /// keys live under `textPrefix` ("text_config." or, in older files, the top level), the
    /// M-RoPE sections at `ropeKey`.
    func validate(source: String, textPrefix: String, ropeKey: String) throws {
        try vision.validate(source: source)
        try text.validate(source: source, prefix: textPrefix)
        let rule = ConfigRule(source: source)
        try rule.require(vision.hiddenSize == text.hiddenSize, "vision_config.hidden_size", vision.hiddenSize,
                         "the merger's output is the language model's input, so it must equal \(textPrefix)hidden_size (\(text.hiddenSize))")
        try validateMropeSection(rule, key: ropeKey)
        try validateTokenIDs(rule)
    }

    /// Each rotary frequency of a text head reads one position stream (time, height, width).
    private func validateMropeSection(_ rule: ConfigRule, key: String) throws {
        let half = text.headDim / 2
        try rule.require(mropeSection.count == 3 && mropeSection.allSatisfy { $0 >= 0 && $0 <= half } && mropeSection.reduce(0, +) == half,
                         key, mropeSection,
                         "it must be 3 non-negative counts (time, height, width) summing to head_dim / 2 = \(half), the rotary frequencies of one text head")
    }

    /// Every special token is looked up in the embedding table (the image and video
    /// placeholders too: transformers embeds them before putting the vision features there).
    private func validateTokenIDs(_ rule: ConfigRule) throws {
        let tokens = [("image_token_id", imageTokenID), ("video_token_id", videoTokenID),
                      ("vision_start_token_id", visionStartTokenID), ("vision_end_token_id", visionEndTokenID)]
        for (index, (key, id)) in tokens.enumerated() {
            try rule.require(id >= 0 && id < text.vocabSize, key, id,
                             "it must be a token id inside the vocabulary, 0 to \(text.vocabSize - 1) (vocab_size \(text.vocabSize))")
            if let other = tokens[..<index].first(where: { $0.1 == id }) {
                throw rule.failure("\(key) is \(id), the same as \(other.0); each special token marks one thing, so give it its own id.")
            }
        }
    }
}

extension Qwen2VLVisionConfig {
    func validate(source: String) throws {
        let rule = ConfigRule(source: source, prefix: "vision_config.")
        try rule.positive([("depth", depth, ConfigLimits.layers), ("embed_dim", embedDim, ConfigLimits.width),
                           ("hidden_size", hiddenSize, ConfigLimits.width)])
        // The 2-D rotary embedding gives head_dim / 2 angles to rows and as many to columns,
        // each half rotating pairs: head_dim must split in four.
        try rule.require(numHeads > 0 && embedDim % numHeads == 0 && headDim % 4 == 0, "vision_config.num_heads", numHeads,
                         "it must divide embed_dim (\(embedDim)) into heads whose size is a multiple of 4 (the 2-D rotary embedding)")
        try rule.require(mlpRatio > 0 && mlpRatio <= Double(ConfigLimits.width) && mlpWidth >= 1 && mlpWidth <= ConfigLimits.width, "vision_config.mlp_ratio", mlpRatio,
                         "it must be positive, with embed_dim x mlp_ratio at most \(ConfigLimits.width)")
        try rule.require(inChannels == 3, "vision_config.in_channels", inChannels, "Discern feeds RGB images, so it must be 3")
        try rule.positive([("patch_size", patchSize, ConfigLimits.imageSide), ("spatial_merge_size", spatialMergeSize, ConfigLimits.imageSide),
                           ("temporal_patch_size", temporalPatchSize, ConfigLimits.imageSide)])
        try rule.require(patchLength <= ConfigLimits.width, "vision_config.patch_size", patchSize,
                         "one patch row (in_channels x temporal_patch_size x patch_size^2 = \(patchLength) values) must stay at most \(ConfigLimits.width)")
        try rule.require(mergedWidth <= ConfigLimits.width, "vision_config.spatial_merge_size", spatialMergeSize,
                         "the merger's input (embed_dim x spatial_merge_size^2 = \(mergedWidth)) must stay at most \(ConfigLimits.width)")
        guard ActivationFunction(huggingFaceName: hiddenAct) != nil else {
            throw rule.failure("vision_config.hidden_act '\(hiddenAct)' is not supported (quick_gelu, gelu, gelu_pytorch_tanh, silu).")
        }
    }
}
