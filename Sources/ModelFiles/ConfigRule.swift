import Models

/// Limits far above any real model (LLaVA 7B: width 4096, 32 layers; Qwen2-VL 72B: width 8192,
/// 80 layers; the largest open models stay under width 32768 and 200 layers) that keep every size
/// product in the model code below 2^56, so no later multiplication can overflow; the memory
/// check refuses what would not fit anyway. Shared by every model family's validation.
enum ConfigLimits {
    static let width = 1 << 20
    static let layers = 1 << 12
    static let imageSide = 1 << 14
    static let positions = 1 << 22
}

/// Builds the messages: "FILE: KEY is VALUE; RULE."
struct ConfigRule {
    let source: String
    var prefix = ""

    func failure(_ message: String) -> ModelConfigError { ModelConfigError("\(source): \(message)") }

    func require(_ condition: Bool, _ key: String, _ value: CustomStringConvertible, _ rule: String) throws {
        guard !condition else { return }
        throw failure("\(key) is \(value); \(rule).")
    }

    func positive(_ key: String, _ value: Int, upTo limit: Int) throws {
        try require(value > 0 && value <= limit, prefix + key, value, "it must be a positive integer, at most \(limit)")
    }

    /// Several sizes at once: (key, value, limit).
    func positive(_ sizes: [(key: String, value: Int, limit: Int)]) throws {
        for size in sizes { try positive(size.key, size.value, upTo: size.limit) }
    }

    func positiveFinite(_ key: String, _ value: Double) throws {
        try require(value.isFinite && value > 0, prefix + key, value, "it must be a positive, finite number")
    }
}
