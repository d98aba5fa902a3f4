import Foundation

/// Comparing two configurations: a resumed run against its checkpoint's.
extension ResolvedConfig {
    /// Keys a resumed run must share with its checkpoint: they define the trainable tensors, the
    /// data order or the objective. Everything else (lr, steps, logging...) may change.
    package static let resumeInvariantPaths = [
        "seed", "global_batch", "prompts.image", "prompts.text", "image.mode", "train.mode", "train.soft_prompts", "train.lora",
        "lora.rank", "lora.alpha", "lora.target_modules", "loss.contrastive", "loss.ntp", "loss.ntp_captions", "loss.hard_negatives",
        "loss.mask_duplicates", "loss.learn_logit_scale",
    ]
    /// Keys added after checkpoints were first written, with the value a checkpoint that lacks
    /// them trained with (before loss.mask_duplicates existed, nothing was masked).
    static let valuesBeforeTheirKeys = ["loss.mask_duplicates=false"]

    /// A checkpoint's stored configuration: a key it lacks takes the value it trained with
    /// (`valuesBeforeTheirKeys`), not today's default, so the resume check compares what the run did.
    package static func parseStored(yaml: String, source: String) throws -> ResolvedConfig {
        var base = ResolvedConfig()
        for assignment in valuesBeforeTheirKeys { try base.set(assignment) }
        return try parse(yaml: yaml, source: source, over: base)
    }

    /// Where things are: a resumed run may name other places without a note.
    static let locationPaths: Set<String> = ["model", "data", "run_dir"]

    /// "key: checkpoint X, now Y" for each key that must not change on resume but did.
    package func resumeConflicts(with stored: ResolvedConfig) -> [String] {
        Self.resumeInvariantPaths.filter { stored.values[$0] != values[$0] }
            .map { "\($0): checkpoint \(Self.shown(stored.values[$0])), now \(Self.shown(values[$0]))" }
    }

    /// "key X -> Y" for every other field that changed since the checkpoint, in table order.
    package func resumeChanges(from stored: ResolvedConfig) -> [String] {
        ConfigSchema.fields.map(\.path).filter { stored.values[$0] != values[$0] && !Self.locationPaths.contains($0) }
            .map { "\($0) \(Self.shown(stored.values[$0])) -> \(Self.shown(values[$0]))" }
    }

    /// Both configurations hold every field (defaults fill what a file leaves out).
    static func shown(_ value: ConfigValue?) -> String { value.map(\.description) ?? "(unset)" }
}

/// Comparing the configurations of the ranks of one job.
extension ResolvedConfig {
    /// Every key as "key: value" in table order, path values absolute and standardised (so
    /// `data/x` and `./data/x` run from one folder agree). The `bench` section is left out:
    /// training ignores it, and its relative default path would differ between ranks started in
    /// different folders.
    package var agreementLines: [String] {
        ConfigSchema.fields.filter { !$0.path.hasPrefix("bench.") }.map { field -> String in
            let value = values[field.path] ?? field.defaultValue
            if field.kind == .path, case .string(let path) = value { return "\(field.path): \(Self.canonicalPath(path))" }
            return "\(field.path): \(value)"
        }
    }

    package static func canonicalPath(_ path: String) -> String {
        path.isEmpty ? "\"\"" : URL(fileURLWithPath: path).standardized.path
    }
}
