/// The values a numeric configuration field allows: an interval, each end open, closed or
/// absent. Checked once when a value is read (YAML or --set), before any arithmetic on it, and
/// printed in docs/config.md. Integer bounds also keep every later Int conversion in range.
package struct ConfigRange: Sendable, Equatable, CustomStringConvertible {
    package let lower: Double?
    package let lowerOpen: Bool
    package let upper: Double?
    package let upperOpen: Bool

    package init(lower: Double?, lowerOpen: Bool = false, upper: Double?, upperOpen: Bool = false) {
        precondition(lower != nil || upper != nil, "a range needs at least one bound")
        self.lower = lower
        self.lowerOpen = lowerOpen
        self.upper = upper
        self.upperOpen = upperOpen
    }

    /// > 0 (finite: the parser refuses infinities and NaN).
    package static let positive = ConfigRange(lower: 0, lowerOpen: true, upper: nil)
    /// >= 0.
    package static let nonNegative = ConfigRange(lower: 0, upper: nil)
    /// [0, 1): probabilities that must leave something (dropout) and Adam's betas.
    package static let unitHalfOpen = ConfigRange(lower: 0, upper: 1, upperOpen: true)
    /// [0, 1].
    package static let unit = ConfigRange(lower: 0, upper: 1)

    /// A closed interval [lower, upper].
    package static func from(_ lower: Double, to upper: Double) -> ConfigRange { ConfigRange(lower: lower, upper: upper) }
    /// (lower, upper].
    package static func above(_ lower: Double, upTo upper: Double) -> ConfigRange {
        ConfigRange(lower: lower, lowerOpen: true, upper: upper)
    }

    package func contains(_ value: Double) -> Bool {
        guard value.isFinite else { return false }
        if let lower, lowerOpen ? !(value > lower) : !(value >= lower) { return false }
        if let upper, upperOpen ? !(value < upper) : !(value <= upper) { return false }
        return true
    }

    /// "> 0", "in [0, 1)", "from 1 to 1048576": completes "it must be ...".
    package var description: String {
        func number(_ value: Double) -> String {
            value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        }
        switch (lower, upper) {
        case (let lower?, nil): return (lowerOpen ? "> " : ">= ") + number(lower)
        case (nil, let upper?): return (upperOpen ? "< " : "<= ") + number(upper)
        case (let lower?, let upper?) where !lowerOpen && !upperOpen: return "from \(number(lower)) to \(number(upper))"
        case (let lower?, let upper?):
            return "in " + (lowerOpen ? "(" : "[") + number(lower) + ", " + number(upper) + (upperOpen ? ")" : "]")
        case (nil, nil): return "any number"
        }
    }
}
