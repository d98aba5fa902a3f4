import Formats
import Foundation
import Kernels
import ModelFiles
import Models

/// Sizes of a freshly initialised LLaVA (`discern init-model --preset`).
package struct ModelPreset: Sendable, Equatable {
    package var visionHidden: Int, visionIntermediate: Int, visionLayers: Int, visionHeads: Int, patchSize: Int
    package var textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int
    package var maxPositions: Int
    /// The output head reads embed_tokens (no language_model.lm_head tensor).
    package var tieWordEmbeddings: Bool

    package init(visionHidden: Int, visionIntermediate: Int, visionLayers: Int, visionHeads: Int, patchSize: Int,
                textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int, maxPositions: Int,
                tieWordEmbeddings: Bool = false) {
        self.visionHidden = visionHidden
        self.visionIntermediate = visionIntermediate
        self.visionLayers = visionLayers
        self.visionHeads = visionHeads
        self.patchSize = patchSize
        self.textHidden = textHidden
        self.textIntermediate = textIntermediate
        self.textLayers = textLayers
        self.textHeads = textHeads
        self.textKeyValueHeads = textKeyValueHeads
        self.maxPositions = maxPositions
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    /// For the synthetic demo: CLIP 96 wide x 3 layers (the last is unused: features come from
    /// layer -2), patch 8; Llama 160 wide x 4 layers, 4 heads sharing 2 key/value heads (GQA),
    /// MLP 432 (2.7x), 256 positions.
    package static let tiny = ModelPreset(visionHidden: 96, visionIntermediate: 384, visionLayers: 3, visionHeads: 4, patchSize: 8,
                                         textHidden: 160, textIntermediate: 432, textLayers: 4, textHeads: 4, textKeyValueHeads: 2,
                                         maxPositions: 256)

    /// config.json text (transformers-loadable, keys sorted).
    package func configJSON(imageSize: Int, vocabularySize: Int, imageTokenID: Int, padTokenID: Int) -> String {
        let grid = imageSize / patchSize
        return """
        {
          "architectures": ["LlavaForConditionalGeneration"],
          "image_seq_length": \(grid * grid),
          "image_token_index": \(imageTokenID),
          "model_type": "llava",
          "multimodal_projector_bias": true,
          "projector_hidden_act": "gelu",
          "text_config": {
            "attention_bias": false,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "head_dim": \(textHidden / textHeads),
            "hidden_act": "silu",
            "hidden_size": \(textHidden),
            "initializer_range": 0.02,
            "intermediate_size": \(textIntermediate),
            "max_position_embeddings": \(maxPositions),
            "mlp_bias": false,
            "model_type": "llama",
            "num_attention_heads": \(textHeads),
            "num_hidden_layers": \(textLayers),
            "num_key_value_heads": \(textKeyValueHeads),
            "pad_token_id": \(padTokenID),
            "rms_norm_eps": 1e-05,
            "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"},
            "rope_theta": 10000.0,
            "tie_word_embeddings": \(tieWordEmbeddings),
            "vocab_size": \(vocabularySize)
          },
          "tie_word_embeddings": \(tieWordEmbeddings),
          "vision_config": {
            "hidden_act": "quick_gelu",
            "hidden_size": \(visionHidden),
            "image_size": \(imageSize),
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": \(visionIntermediate),
            "layer_norm_eps": 1e-05,
            "model_type": "clip_vision_model",
            "num_attention_heads": \(visionHeads),
            "num_channels": 3,
            "num_hidden_layers": \(visionLayers),
            "patch_size": \(patchSize),
            "projection_dim": \(visionHidden)
          },
          "vision_feature_layer": -2,
          "vision_feature_select_strategy": "default"
        }

        """
    }
}

/// Random weights in the Hugging Face manner, so a model made here starts like one made by
/// `LlavaForConditionalGeneration(config)`:
///   CLIP (CLIPPreTrainedModel._init_weights, factor 1): class embedding N(0, d^-1/2), patch and
///     position embeddings N(0, 0.02), q/k/v N(0, d^-1/2 (2L)^-1/2), out_proj N(0, d^-1/2),
///     fc1 N(0, (2d)^-1/2), fc2 N(0, d^-1/2 (2L)^-1/2);
///   Llama and projector: every weight N(0, 0.02), the pad token's embedding row zero;
///   every bias 0, every norm weight 1.
/// Each tensor draws from its own stream (seed, name), so adding a tensor changes no other.
package func initialWeight(name: String, shape: [Int], config: LlavaConfig, padTokenID: Int?, seed: UInt64) -> [Float] {
    let v = config.vision, d = Double(v.hiddenSize), layers = Double(v.numHiddenLayers)
    var std = 0.02
    if name.hasPrefix("vision_tower.") {
        if name.hasSuffix("class_embedding") {
            std = 1 / d.squareRoot()
        } else if name.contains("self_attn.out_proj") {
            std = 1 / d.squareRoot()
        } else if name.contains("self_attn.") || name.contains("mlp.fc2") {
            std = 1 / d.squareRoot() / (2 * layers).squareRoot()
        } else if name.contains("mlp.fc1") {
            std = 1 / (2 * d).squareRoot()
        }
    }
    return randomTensor(name: name, shape: shape, std: std, biasStd: 0, padTokenID: padTokenID, seed: seed)
}

/// Writes a new model directory (config.json, tokenizer.json, model.safetensors in float32)
/// atomically: everything goes into `<directory>.tmp`, is loaded back strictly as a check,
/// then renamed into place. An existing non-empty directory is only replaced with `force`.
package func writeInitialModel(preset: ModelPreset, directory: String, words: [String], imageSize: Int, seed: UInt64,
                              force: Bool) throws -> InitialModelSummary {
    guard imageSize >= preset.patchSize, imageSize % preset.patchSize == 0 else {
        throw ModelConfigError("--image-size \(imageSize) must be a positive multiple of the patch size \(preset.patchSize) (e.g. 32).")
    }
    let (target, exists) = try newModelDirectory(directory, force: force, otherPlace: "another --output",
                                                 whenNotEmpty: "pass --force to replace it")
    let made = try InitModelPreset.llava(preset).newModelFiles(vocabularySize: nil, words: words, imageSize: imageSize)
    let staging = try stageModelDirectory(target, files: made.texts)
    let parameters = try writeRandomWeights(made.config.modelDescription, in: staging) { name, shape in
        initialTensor(name: name, shape: shape, config: made.config, padTokenID: made.padTokenID, seed: seed)
    }
    // Strict load-back: every tensor name and shape as the model expects.
    let written = try ModelDirectory(path: staging.path)
    _ = try written.loadModel(as: Float.self)
    try moveIntoPlace(staging, target, replacing: exists)
    return InitialModelSummary(directory: target.path, family: written.family, parameters: parameters)
}
