/// The checks on a whole resolved configuration, run when a run starts: each value against its
/// field's range again (values set in code skip the parser) and the rules that relate two keys.
/// Ranges themselves live in the field table (ConfigSchema), never here.
extension ResolvedConfig {
    package func checkRules() throws {
        for field in ConfigSchema.fields {
            guard let range = field.range, let value = values[field.path] else { continue }
            let number: Double
            switch value {
            case .int(let v): number = Double(v)
            case .double(let v): number = v
            default: continue
            }
            guard range.contains(number) else {
                throw ConfigError("\(field.path): \(value) is out of range; it must be \(range).")
            }
        }
        let steps = int("steps")
        let warmup = double("optimizer.warmup")
        if warmup >= 1 {
            guard warmup == warmup.rounded(), warmup <= Double(steps) else {
                throw ConfigError("optimizer.warmup: \(warmup) is out of range; below 1 it is a fraction of steps, from 1 it must be a whole number of steps, at most steps (\(steps)).")
            }
        }
        let scale = double("loss.logit_scale"), maxScale = double("loss.max_logit_scale")
        guard scale <= maxScale else {
            throw ConfigError("loss.logit_scale \(scale) is above loss.max_logit_scale \(maxScale); the scale is clamped to [0, loss.max_logit_scale], so start inside it.")
        }
        let contrastive = double("loss.contrastive"), ntp = double("loss.ntp")
        guard contrastive + ntp > 0 else {
            throw ConfigError("loss.contrastive and loss.ntp are both 0; set at least one of them above 0, or there is nothing to learn from.")
        }
    }

    /// Warmup in steps: a fraction of `steps` below 1, else a step count (checkRules bounds both,
    /// so the conversions cannot trap).
    package var warmupSteps: Int {
        let warmup = double("optimizer.warmup"), steps = int("steps")
        return warmup < 1 ? Int((warmup * Double(steps)).rounded()) : Int(warmup)
    }
}
