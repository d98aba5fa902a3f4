/// adapter_config.json: every field PEFT's LoraConfig reads, with PEFT's defaults where Discern
/// has nothing to say (null where PEFT writes null).
struct PEFTLoRAConfig: Encodable {
    let baseModel: String, rank: Int, alpha: Double, dropout: Double, targetModules: String

    enum CodingKeys: String, CodingKey {
        case peftType = "peft_type", taskType = "task_type", baseModel = "base_model_name_or_path", rank = "r"
        case alpha = "lora_alpha", dropout = "lora_dropout", targetModules = "target_modules", bias
        case fanInFanOut = "fan_in_fan_out", modulesToSave = "modules_to_save", initLoraWeights = "init_lora_weights"
        case useRSLoRA = "use_rslora", useDoRA = "use_dora", rankPattern = "rank_pattern", alphaPattern = "alpha_pattern"
        case layersToTransform = "layers_to_transform", layersPattern = "layers_pattern", inferenceMode = "inference_mode", revision
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("LORA", forKey: .peftType)
        try c.encode(baseModel, forKey: .baseModel)
        try c.encode(rank, forKey: .rank)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encode("none", forKey: .bias)
        try c.encode(false, forKey: .fanInFanOut)
        try c.encode(true, forKey: .initLoraWeights)
        try c.encode(false, forKey: .useRSLoRA)
        try c.encode(false, forKey: .useDoRA)
        try c.encode([String: Int](), forKey: .rankPattern)
        try c.encode([String: Int](), forKey: .alphaPattern)
        try c.encode(true, forKey: .inferenceMode)
        for key in [CodingKeys.taskType, .modulesToSave, .layersToTransform, .layersPattern, .revision] { try c.encodeNil(forKey: key) }
    }
}

/// soft_prompts.json: the templates, where the rows go, and each prompt's suffix token ids and rows.
struct SoftPromptsDescription: Encodable {
    let format = "discern-soft-prompts", version = 1
    let imageTemplate: String, textTemplate: String
    let placement = "Each tensor's rows replace the input embeddings of the LAST rows of the prompt: for images, the "
        + "positions right after the image features; for texts, the last positions of the sequence (after the caption)."
    var imageSuffixIDs: [Int]?, imageRows: Int?, textSuffixIDs: [Int]?, textRows: Int?

    enum CodingKeys: String, CodingKey {
        case format, version, placement, imageTemplate = "image_template", textTemplate = "text_template"
        case imageSuffixIDs = "image_suffix_ids", imageRows = "image_rows", textSuffixIDs = "text_suffix_ids", textRows = "text_rows"
    }
}
