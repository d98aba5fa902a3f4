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

/// How PEFT names a family's modules, and how a `target_modules` pattern written from the
/// canonical names also matches the other transformers namings (docs/export.md, "Keys").
extension WeightKeyLayout {
    /// The module path after `base_model.model.` in an adapter file. LLaVA: the classic names,
    /// which PEFT 0.21 renames onto transformers 5's modules through the "llava" conversion
    /// mapping. Qwen2-VL: transformers' in-memory names, what PEFT itself writes; PEFT 0.21 has
    /// no conversion for "qwen2_vl", so hub names (`model.layers.*`) would load nothing (a warning only).
    public func peftModuleName(_ module: String) -> String {
        switch self {
        case .llava: return module
        case .qwen2VL:
            if module.hasPrefix("model.") { return "model.language_model." + module.dropFirst("model.".count) }
            if module.hasPrefix("visual.") { return "model." + module }
            return module
        }
    }

    /// (escaped canonical prefix, what it becomes) pairs: each prefix turned into a pattern that
    /// matches the family's module names under every transformers layout PEFT may meet.
    public var modulePatternRewrites: [(prefix: String, pattern: String)] {
        switch self {
        case .llava:
            return [(#"language_model\.model\."#, #"(model\.)?language_model\.(model\.)?"#),
                    (#"vision_tower\.vision_model\."#, #"(model\.)?vision_tower\.(vision_model\.)?"#),
                    (#"multi_modal_projector\."#, #"(model\.)?multi_modal_projector\."#)]
        case .qwen2VL:
            // transformers >= 4.52 and 5.x: model.language_model.* and model.visual.*; older: model.*, visual.*.
            return [(#"model\."#, #"model\.(language_model\.)?"#), (#"visual\."#, #"(model\.)?visual\."#)]
        }
    }

    /// `escapedModule` (a canonical module path, regex-escaped) with its family prefix rewritten.
    public func modulePattern(escaped escapedModule: String) -> String {
        for rewrite in modulePatternRewrites where escapedModule.hasPrefix(rewrite.prefix) {
            return rewrite.pattern + escapedModule.dropFirst(rewrite.prefix.count)
        }
        return escapedModule
    }
}
