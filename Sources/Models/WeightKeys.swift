/// The key layouts of one family's files, mapped onto the names its blueprints use.
public enum WeightKeyLayout: String, Sendable, Equatable {
    /// LLaVA: the classic hub layout (`canonicalWeightKey` below).
    case llava
    /// Qwen2-VL: the hub layout (`model.layers.*`, `visual.*`, `lm_head.weight`); transformers'
    /// in-memory layout (`model.language_model.*`, `model.visual.*`) maps onto it.
    case qwen2VL

    /// A file's key under the blueprint's name for it.
    public func canonical(_ key: String) -> String {
        switch self {
        case .llava: return canonicalWeightKey(key)
        case .qwen2VL:
            if key.hasPrefix("model.language_model.") { return "model." + key.dropFirst("model.language_model.".count) }
            if key.hasPrefix("model.visual.") { return "visual." + key.dropFirst("model.visual.".count) }
            return key
        }
    }
}

/// Hugging Face LLaVA checkpoints come in three key layouts (docs/model.md). Discern's own names are
/// the classic hub layout; `canonicalWeightKey` maps the other two onto it.
///   1. classic: `language_model.model.layers.0...`, `language_model.lm_head.weight`,
///      `vision_tower.vision_model.encoder...`, `multi_modal_projector.linear_1...`
///   2. newer runtime: `model.language_model.layers.0...`, `lm_head.weight`,
///      `model.vision_tower.vision_model...`, `model.multi_modal_projector...`
///   3. some 5.x builds: `vision_tower.encoder...` (no `vision_model.`)
public func canonicalWeightKey(_ key: String) -> String {
    var name = key
    if name == "lm_head.weight" { return "language_model.lm_head.weight" }
    if name.hasPrefix("model.language_model.") {
        name = "language_model.model." + name.dropFirst("model.language_model.".count)
    } else if name.hasPrefix("model.vision_tower.") {
        name = "vision_tower." + name.dropFirst("model.vision_tower.".count)
    } else if name.hasPrefix("model.multi_modal_projector.") {
        name = "multi_modal_projector." + name.dropFirst("model.multi_modal_projector.".count)
    }
    if name.hasPrefix("vision_tower."), !name.hasPrefix("vision_tower.vision_model.") {
        name = "vision_tower.vision_model." + name.dropFirst("vision_tower.".count)
    }
    return name
}
