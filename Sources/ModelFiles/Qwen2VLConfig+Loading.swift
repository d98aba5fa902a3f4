import Foundation
import Formats
import Models

// config.json of a Qwen2-VL model directory, read as transformers 5.24's Qwen2VLConfig reads it:
// a missing key takes the class default (Qwen2VLConfig / Qwen2VLTextConfig / Qwen2VLVisionConfig),
// both the nested transformers 5 form (`text_config` with `rope_parameters`) and the older flat
// hub form (text keys at the top level, `rope_scaling: {type: "mrope"}`, top-level `rope_theta`).

extension Qwen2VLConfig {
    /// Reads `config.json` from a Hugging Face Qwen2-VL model directory.
    package static func load(directory: URL) throws -> Qwen2VLConfig {
        let file = try readConfigFile(directory: directory, layout: "Qwen2-VL")
        return try parse(file.bytes, source: file.path)
    }

    /// Decodes config.json bytes through the strict JSON parser, then checks every value the
    /// model uses (Qwen2VLConfig+Validation) before anything is computed from it.
    package static func parse(_ bytes: [UInt8], source: String) throws -> Qwen2VLConfig {
        let root = try ConfigObject(JSONNode.parse(bytes, file: source))
        try requireModelType(root, ["qwen2_vl"], default: "qwen2_vl", what: "Qwen2-VL models")
        // Hub files saved before transformers 5 keep the text keys at the top level.
        let nested = root.isPresent("text_config")
        let textFields = nested ? try root.object("text_config") : root
        if nested { try requireModelType(textFields, ["qwen2_vl_text"], default: "qwen2_vl_text", what: "Qwen2-VL's own text model") }
        try refuseSlidingWindows(textFields)
        let rope = try Qwen2VLTextRope(fields: textFields)
        var text = try LlamaConfig(decoderFields: textFields, defaults: .qwen2VL, ropeTheta: rope.theta)
        try requireDerivedHeadDim(textFields, text.headDim, formula: "hidden_size / num_attention_heads")
        // Qwen2's q/k/v biases are the family's (the model blueprint adds them), not these flags,
        // which Qwen2VLTextConfig does not have.
        text.attentionBias = false
        text.mlpBias = false
        // transformers 5 ties when either the top level or (pre-v5 saves) text_config says so.
        text.tieWordEmbeddings = try root.bool("tie_word_embeddings", default: false) || text.tieWordEmbeddings
        let config = Qwen2VLConfig(
            vision: try Qwen2VLVisionConfig(fields: try root.object("vision_config")), text: text,
            mropeSection: rope.mropeSection,
            imageTokenID: try root.int("image_token_id", default: 151655),
            videoTokenID: try root.int("video_token_id", default: 151656),
            visionStartTokenID: try root.int("vision_start_token_id", default: 151652),
            visionEndTokenID: try root.int("vision_end_token_id", default: 151653),
            tieWordEmbeddings: text.tieWordEmbeddings)
        try config.validate(source: source, textPrefix: nested ? "text_config." : "", ropeKey: rope.sectionKey)
        return config
    }
}

/// Discern's decoder attends over the whole prefix in every layer; transformers 5.24 would use
/// a sliding window in layers marked so (or from max_window_layers on, with use_sliding_window).
func refuseSlidingWindows(_ fields: ConfigObject) throws {
    if try fields.bool("use_sliding_window", default: false) {
        throw ModelConfigError("\(fields.file): \(fields.key("use_sliding_window")) is true; Discern's decoder has no sliding-window attention (no released Qwen2-VL uses it). Set it to false.")
    }
    for (index, type) in try fields.optionalStringArray("layer_types")?.enumerated() ?? [].enumerated() where type != "full_attention" {
        throw ModelConfigError("\(fields.file): \(fields.key("layer_types"))[\(index)] is '\(type)'; Discern's decoder supports only \"full_attention\" layers. Use it for every layer or remove layer_types.")
    }
}

/// transformers' Qwen2-VL attention (text and vision) always splits the width evenly over the
/// heads, but its rotary tables would read a `head_dim` key: one that disagrees cannot be computed with.
func requireDerivedHeadDim(_ fields: ConfigObject, _ derived: Int, formula: String) throws {
    guard let headDim = try fields.optionalInt("head_dim"), headDim != derived else { return }
    throw ModelConfigError("\(fields.file): \(fields.key("head_dim")) is \(headDim); Qwen2-VL's attention uses \(formula) (\(derived)). Remove it or set it to \(derived).")
}

/// `model_type` of one config object, checked against the names transformers gives it.
func requireModelType(_ fields: ConfigObject, _ accepted: [String], default fallback: String, what: String) throws {
    let modelType = try fields.string("model_type", default: fallback)
    guard accepted.contains(modelType) else {
        let names = accepted.map { "\"\($0)\"" }.joined(separator: " or ")
        throw ModelConfigError("\(fields.file): \(fields.key("model_type")) is '\(modelType)'; Discern loads \(what) here (model_type \(names)).")
    }
}

/// The text model's rotary settings as transformers 5.24 resolves them: `rope_scaling` (older
/// files) or `rope_parameters`, whose rope_theta falls back to the text keys' and then 1e6;
/// "mrope" is an old name of "default"; a missing mrope_section is the modeling code's [16, 24, 24].
struct Qwen2VLTextRope {
    var theta: Double
    var mropeSection: [Int]
    /// Where mrope_section is (or would be) written, for messages.
    var sectionKey: String

    private static let knownKeys: Set = ["rope_type", "type", "rope_theta", "mrope_section"]

    init(fields: ConfigObject) throws {
        if fields.isPresent("rope_scaling") && fields.isPresent("rope_parameters") {
            throw ModelConfigError("\(fields.file): \(fields.key("rope_scaling")) and \(fields.key("rope_parameters")) are both set; transformers reads only rope_scaling. Keep one (rope_parameters in transformers 5 files).")
        }
        let parameters = try fields.object(fields.isPresent("rope_scaling") ? "rope_scaling" : "rope_parameters")
        for key in parameters.keys where !Self.knownKeys.contains(key) {
            throw ModelConfigError("\(fields.file): \(parameters.key(key)) is set; Qwen2-VL's M-RoPE takes only rope_type, rope_theta and mrope_section, and scaled RoPE variants are not supported. Remove it.")
        }
        let typeKey = parameters.isPresent("rope_type") ? "rope_type" : "type"
        let type = try parameters.string(typeKey, default: "default")
        guard type == "default" || type == "mrope" else {
            throw ModelConfigError("\(fields.file): \(parameters.key(typeKey)) is '\(type)'; Qwen2-VL's M-RoPE is \"default\" (older files: \"mrope\"), and scaled RoPE variants are not supported. Use \"default\".")
        }
        theta = try parameters.double("rope_theta", default: fields.double("rope_theta", default: 1_000_000))
        guard theta.isFinite && theta > 0 else {
            let key = parameters.isPresent("rope_theta") ? parameters.key("rope_theta") : fields.key("rope_theta")
            throw ModelConfigError("\(fields.file): \(key) is \(theta); it must be a positive, finite number (Qwen2-VL uses 1000000).")
        }
        mropeSection = try parameters.optionalIntArray("mrope_section") ?? [16, 24, 24]
        sectionKey = parameters.key("mrope_section")
    }
}

extension Qwen2VLVisionConfig {
    /// transformers' Qwen2VLVisionConfig defaults (the 7B tower, whose merger outputs 3584).
    init(fields: ConfigObject) throws {
        // Old checkpoints name the vision config "qwen2_vl"; transformers renames it.
        try requireModelType(fields, ["qwen2_vl_vision", "qwen2_vl"], default: "qwen2_vl_vision", what: "Qwen2-VL's vision tower")
        try Self.checkRotary(fields)
        let embedDim = try fields.int("embed_dim", default: 1280)
        let numHeads = try fields.int("num_heads", alias: "num_attention_heads", default: 16)
        let inChannels = try fields.int("in_channels", default: 3)
        let patchSize = try fields.int("patch_size", default: 14)
        // Hub files also carry in_chans and spatial_patch_size, which transformers ignores.
        try fields.requireAgreement(legacy: "in_chans", with: "in_channels", value: inChannels)
        try fields.requireAgreement(legacy: "spatial_patch_size", with: "patch_size", value: patchSize)
        if numHeads > 0, embedDim % numHeads == 0 { try requireDerivedHeadDim(fields, embedDim / numHeads, formula: "embed_dim / num_heads") }
        // transformers 5.24 types mlp_ratio as an integer (a fraction is refused there too).
        self.init(depth: try fields.int("depth", alias: "num_hidden_layers", default: 32), embedDim: embedDim,
                  hiddenSize: try fields.int("hidden_size", default: 3584), numHeads: numHeads,
                  mlpRatio: Double(try fields.int("mlp_ratio", default: 4)), patchSize: patchSize,
                  spatialMergeSize: try fields.int("spatial_merge_size", default: 2),
                  temporalPatchSize: try fields.int("temporal_patch_size", default: 2),
                  inChannels: inChannels, hiddenAct: try fields.string("hidden_act", default: "quick_gelu"))
    }

    /// The tower's 2-D rotary table is axial with theta 10000 in every released model, which is
    /// what Discern computes; a file asking for anything else is refused.
    private static func checkRotary(_ fields: ConfigObject) throws {
        let parameters = try fields.object("rope_parameters")
        for key in parameters.keys where !["rope_type", "type", "rope_theta"].contains(key) {
            throw ModelConfigError("\(fields.file): \(parameters.key(key)) is set; the vision tower's axial rotary embedding takes only rope_type and rope_theta. Remove it.")
        }
        let typeKey = parameters.isPresent("rope_type") ? "rope_type" : "type"
        let type = try parameters.string(typeKey, default: "axial")
        // transformers turns "default" into the tower's own "axial".
        guard type == "axial" || type == "default" else {
            throw ModelConfigError("\(fields.file): \(parameters.key(typeKey)) is '\(type)'; Qwen2-VL's vision tower supports only \"axial\" (transformers refuses the rest too). Use \"axial\".")
        }
        let theta = try parameters.double("rope_theta", default: fields.double("rope_theta", default: 10000))
        guard theta == 10000 else {
            let key = parameters.isPresent("rope_theta") ? parameters.key("rope_theta") : fields.key("rope_theta")
            throw ModelConfigError("\(fields.file): \(key) is \(theta); Discern's Qwen2-VL vision tower uses theta 10000, as every released Qwen2-VL does. Set it to 10000.")
        }
    }
}
