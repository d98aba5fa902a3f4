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

    package init(visionHidden: Int, visionIntermediate: Int, visionLayers: Int, visionHeads: Int, patchSize: Int,
                textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int, maxPositions: Int) {
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
    }

    /// For the synthetic demo: CLIP 96 wide x 3 layers (the last is unused: features come from
    /// layer -2), patch 8; Llama 160 wide x 4 layers, 4 heads sharing 2 key/value heads (GQA),
    /// MLP 432 (2.7x), 256 positions.
    package static let tiny = ModelPreset(visionHidden: 96, visionIntermediate: 384, visionLayers: 3, visionHeads: 4, patchSize: 8,
                                         textHidden: 160, textIntermediate: 432, textLayers: 4, textHeads: 4, textKeyValueHeads: 2,
                                         maxPositions: 256)

    package static func named(_ name: String) throws -> ModelPreset {
        switch name {
        case "tiny": return .tiny
        default: throw ModelConfigError("--preset '\(name)' is unknown; the available preset is 'tiny'.")
        }
    }

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
            "tie_word_embeddings": false,
            "vocab_size": \(vocabularySize)
          },
          "tie_word_embeddings": false,
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

/// What `writeInitialModel` wrote.
package struct InitialModelSummary: Sendable {
    package let directory: String
    package let config: LlavaConfig
    /// Parameter counts: CLIP tower (all layers), projector, Llama (embeddings and head included).
    package let visionParameters: Int, projectorParameters: Int, languageParameters: Int
    package var totalParameters: Int { visionParameters + projectorParameters + languageParameters }
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
    let count = shape.reduce(1, *)
    if name.hasSuffix(".bias") { return [Float](repeating: 0, count: count) }
    if shape.count == 1 && (name.contains("norm") || name.contains("layrnorm")) { return [Float](repeating: 1, count: count) }
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
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the name: a stable per-tensor stream
    for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    var random = Xoshiro256(seed: seed ^ hash)
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count { values[i] = Float(std * random.normal()) }
    if name.hasSuffix("embed_tokens.weight"), let pad = padTokenID, pad < shape[0] {
        for i in 0..<shape[1] { values[pad * shape[1] + i] = 0 }
    }
    return values
}

/// Writes a new model directory (config.json, tokenizer.json, model.safetensors in float32)
/// atomically: everything goes into `<directory>.tmp`, is loaded back strictly as a check,
/// then renamed into place. An existing non-empty directory is only replaced with `force`.
package func writeInitialModel(preset: ModelPreset, directory: String, words: [String], imageSize: Int, seed: UInt64,
                              force: Bool) throws -> InitialModelSummary {
    guard imageSize >= preset.patchSize, imageSize % preset.patchSize == 0 else {
        throw ModelConfigError("--image-size \(imageSize) must be a positive multiple of the patch size \(preset.patchSize) (e.g. 32).")
    }
    let files = FileManager.default
    let (target, exists) = try newModelDirectory(directory, force: force, otherPlace: "another --output",
                                                 whenNotEmpty: "pass --force to replace it")
    let built = try TokenizerBuilder(words: words).build()
    let configText = preset.configJSON(imageSize: imageSize, vocabularySize: built.vocabularySize,
                                       imageTokenID: built.imageTokenID, padTokenID: built.padTokenID)
    let config = try LlavaConfig.parse(Data(configText.utf8), source: "init-model preset config")

    let staging = try stageModelDirectory(target, configText: configText, tokenizerJSON: built.json)
    var writer = SafetensorsWriter()
    var counts = (vision: 0, projector: 0, language: 0)
    for entry in config.modelDescription.entries {
        let name = entry.tensor.name, shape = entry.tensor.shape
        let values = initialWeight(name: name, shape: shape, config: config, padTokenID: built.padTokenID, seed: seed)
        try writer.add(name, shape: shape, floats: values)
        switch entry.part {
        case .vision: counts.vision += values.count
        case .connector: counts.projector += values.count
        case .language: counts.language += values.count
        }
    }
    try writer.write(to: staging.appendingPathComponent("model.safetensors").path)
    // Strict load-back: every tensor name and shape as the model expects.
    _ = try ModelDirectory(path: staging.path).loadModel(as: Float.self)

    do {
        if exists { try files.removeItem(at: target) }
        try files.moveItem(at: staging, to: target)
    } catch {
        throw ModelConfigError("\(target.path): cannot move the new model into place (\(error.localizedDescription)); it is left in \(staging.path).")
    }
    return InitialModelSummary(directory: target.path, config: config, visionParameters: counts.vision,
                               projectorParameters: counts.projector, languageParameters: counts.language)
}

/// Where a new model directory goes: `path` standardised, and whether something is there already.
/// A file there, or a non-empty directory without `force`, is refused with a message that names
/// the path and the fix (`whenNotEmpty`, or choosing `otherPlace`).
func newModelDirectory(_ path: String, force: Bool, otherPlace: String, whenNotEmpty: String) throws -> (target: URL, exists: Bool) {
    let files = FileManager.default
    let target = URL(fileURLWithPath: path).standardizedFileURL
    var isDirectory: ObjCBool = false
    let exists = files.fileExists(atPath: target.path, isDirectory: &isDirectory)
    if exists {
        guard isDirectory.boolValue else { throw ModelConfigError("\(target.path) exists and is a file; choose \(otherPlace).") }
        let contents = (try? files.contentsOfDirectory(atPath: target.path)) ?? []
        guard contents.isEmpty || force else {
            throw ModelConfigError("\(target.path) exists and is not empty; \(whenNotEmpty) or choose \(otherPlace).")
        }
    }
    return (target, exists)
}

/// Starts writing a model directory atomically: a fresh `<target>.tmp` (a leftover of an
/// interrupted run is removed) holding config.json and tokenizer.json; the caller adds the weights
/// and renames it into place.
func stageModelDirectory(_ target: URL, configText: String, tokenizerJSON: String) throws -> URL {
    let files = FileManager.default
    let staging = URL(fileURLWithPath: target.path + ".tmp")
    try? files.removeItem(at: staging)
    do {
        try files.createDirectory(at: staging, withIntermediateDirectories: true)
        try Data(configText.utf8).write(to: staging.appendingPathComponent("config.json"))
        try Data(tokenizerJSON.utf8).write(to: staging.appendingPathComponent("tokenizer.json"))
    } catch {
        throw ModelConfigError("\(staging.path): cannot write the model files (\(error.localizedDescription)); check the folder is writable and has room.")
    }
    return staging
}
