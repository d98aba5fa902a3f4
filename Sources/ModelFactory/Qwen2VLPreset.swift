import Foundation
import Images
import Models

/// Sizes of a freshly initialised Qwen2-VL (`discern init-model --preset tiny-qwen2vl`), and the
/// config.json and preprocessor_config.json they make.
package struct Qwen2VLPreset: Sendable, Equatable {
    package var visionEmbed: Int, visionDepth: Int, visionHeads: Int, mlpRatio: Int
    package var patchSize: Int, mergeSize: Int, temporalPatchSize: Int
    package var textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int
    /// Rotary frequencies per position stream (time, height, width); sums to the text head size / 2.
    package var mropeSection: [Int]
    package var maxPositions: Int
    /// The image processor's pixel bounds (smart_resize keeps every image's area between them).
    package var minPixels: Int, maxPixels: Int
    /// The output head reads embed_tokens (no lm_head tensor), as in Qwen2-VL-2B.
    package var tieWordEmbeddings: Bool

    package init(visionEmbed: Int, visionDepth: Int, visionHeads: Int, mlpRatio: Int, patchSize: Int, mergeSize: Int, temporalPatchSize: Int,
                textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int, mropeSection: [Int],
                maxPositions: Int, minPixels: Int, maxPixels: Int, tieWordEmbeddings: Bool = true) {
        (self.visionEmbed, self.visionDepth, self.visionHeads, self.mlpRatio) = (visionEmbed, visionDepth, visionHeads, mlpRatio)
        (self.patchSize, self.mergeSize, self.temporalPatchSize) = (patchSize, mergeSize, temporalPatchSize)
        (self.textHidden, self.textIntermediate, self.textLayers) = (textHidden, textIntermediate, textLayers)
        (self.textHeads, self.textKeyValueHeads, self.mropeSection) = (textHeads, textKeyValueHeads, mropeSection)
        (self.maxPositions, self.minPixels, self.maxPixels, self.tieWordEmbeddings) = (maxPositions, minPixels, maxPixels, tieWordEmbeddings)
    }

    /// For the synthetic demo, at the LLaVA tiny preset's cost: the vision transformer 96 wide x 3
    /// blocks, 4 heads of 24 (a multiple of 4 for the 2-D rotary), MLP 4x; patch 4 and merge 2, so
    /// a 32 x 32 image is 8 x 8 patches and 16 LLM tokens. Qwen2 160 wide x 4 layers, 4 heads of
    /// 40 sharing 2 key/value heads, MLP 432, M-RoPE sections [8, 6, 6] (sum 20 = 40 / 2), 256
    /// positions, tied head. Pixels 16 x 16 to 64 x 64 (4 to 64 tokens), Qwen2-VL's bounds of 2 x 2
    /// to 1280 merged windows scaled to this factor (8) and this context.
    package static let tiny = Qwen2VLPreset(visionEmbed: 96, visionDepth: 3, visionHeads: 4, mlpRatio: 4,
                                           patchSize: 4, mergeSize: 2, temporalPatchSize: 2,
                                           textHidden: 160, textIntermediate: 432, textLayers: 4, textHeads: 4, textKeyValueHeads: 2,
                                           mropeSection: [8, 6, 6], maxPositions: 256, minPixels: 16 * 16, maxPixels: 64 * 64)

    /// config.json text in the nested transformers 5 form save_pretrained writes (keys sorted).
    /// `tokens` holds Qwen2-VL's special token ids (ByteLevelTokenizerBuilder.Result.specialIDs).
    package func configJSON(vocabularySize: Int, tokens: [String: Int]) -> String {
        func id(_ token: String) -> Int { tokens[token]! }
        let endOfText = id("<|endoftext|>")
        let fullAttention = Array(repeating: "\"full_attention\"", count: textLayers).joined(separator: ", ")
        return """
        {
          "architectures": ["Qwen2VLForConditionalGeneration"],
          "dtype": "float32",
          "image_token_id": \(id("<|image_pad|>")),
          "model_type": "qwen2_vl",
          "text_config": {
            "attention_dropout": 0.0,
            "bos_token_id": \(endOfText),
            "eos_token_id": \(endOfText),
            "hidden_act": "silu",
            "hidden_size": \(textHidden),
            "initializer_range": 0.02,
            "intermediate_size": \(textIntermediate),
            "layer_types": [\(fullAttention)],
            "max_position_embeddings": \(maxPositions),
            "max_window_layers": \(textLayers),
            "model_type": "qwen2_vl_text",
            "num_attention_heads": \(textHeads),
            "num_hidden_layers": \(textLayers),
            "num_key_value_heads": \(textKeyValueHeads),
            "pad_token_id": null,
            "rms_norm_eps": 1e-06,
            "rope_parameters": {"mrope_section": \(mropeSection), "rope_theta": 10000.0, "rope_type": "default"},
            "sliding_window": null,
            "tie_word_embeddings": \(tieWordEmbeddings),
            "use_cache": true,
            "use_sliding_window": false,
            "vocab_size": \(vocabularySize)
          },
          "tie_word_embeddings": \(tieWordEmbeddings),
          "video_token_id": \(id("<|video_pad|>")),
          "vision_config": {
            "depth": \(visionDepth),
            "embed_dim": \(visionEmbed),
            "hidden_act": "quick_gelu",
            "hidden_size": \(textHidden),
            "in_channels": 3,
            "initializer_range": 0.02,
            "mlp_ratio": \(mlpRatio),
            "model_type": "qwen2_vl_vision",
            "num_heads": \(visionHeads),
            "patch_size": \(patchSize),
            "rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"},
            "spatial_merge_size": \(mergeSize),
            "temporal_patch_size": \(temporalPatchSize)
          },
          "vision_end_token_id": \(id("<|vision_end|>")),
          "vision_start_token_id": \(id("<|vision_start|>"))
        }

        """
    }

    /// preprocessor_config.json text as Qwen2VLImageProcessor.save_pretrained writes it: this
    /// preset's patch, merge, frames and pixel bounds, Pillow bicubic, CLIP's mean and std.
    package var preprocessorJSON: String {
        func list(_ values: [Double]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
        return """
        {
          "do_convert_rgb": true,
          "do_normalize": true,
          "do_rescale": true,
          "do_resize": true,
          "image_mean": \(list(ImagePreprocessingConfig.clipMean)),
          "image_processor_type": "Qwen2VLImageProcessor",
          "image_std": \(list(ImagePreprocessingConfig.clipStd)),
          "merge_size": \(mergeSize),
          "patch_size": \(patchSize),
          "resample": 3,
          "rescale_factor": 0.00392156862745098,
          "size": {"longest_edge": \(maxPixels), "shortest_edge": \(minPixels)},
          "temporal_patch_size": \(temporalPatchSize)
        }

        """
    }
}
