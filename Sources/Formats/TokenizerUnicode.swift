/// Unicode as tokenizers' own engines see it, which is not the Unicode version of this Swift: its
/// NFC tables (the unicode-normalization-alignments crate) are Unicode 9.0 and its regex engine's
/// classes (Oniguruma) are Unicode 16.0. A scalar assigned later is, to them, unassigned: NFC
/// leaves it alone and no class but "other" holds it. Emulating the cutoff keeps the ids equal on
/// such text; Tests/FormatsTests checks every scalar against tables made by tokenizers itself.
package enum TokenizersUnicode {
    static let normalizationVersion = (major: 9, minor: 0)
    static let regexVersion = (major: 16, minor: 0)

    static func isAssigned(_ scalar: Unicode.Scalar, by version: (major: Int, minor: Int)) -> Bool {
        guard let age = scalar.properties.age else { return false }
        return age.major < version.major || (age.major == version.major && age.minor <= version.minor)
    }

    /// NFC with Unicode 9.0's tables. A scalar newer than that is an unknown starter to them: it
    /// neither decomposes, composes nor reorders, so it splits the text into runs that are
    /// normalized apart. (Normalization stability guarantees the older scalars kept their data.)
    /// Each run goes through the standard library's own NFC (`_nfcCodeUnits`, what String
    /// comparison uses): Foundation's `precomposedStringWithCanonicalMapping` on Linux is wrong on
    /// scalars above U+FFFF (U+10041 U+0301 becomes "Á").
    package static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        // Below U+0300 (the first combining mark) NFC changes nothing.
        if text.allSatisfy({ $0.value < 0x300 }) { return text }
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(text.count)
        var run = String.UnicodeScalarView()
        func flush() {
            guard !run.isEmpty else { return }
            result.append(contentsOf: String(decoding: String(run)._nfcCodeUnits, as: UTF8.self).unicodeScalars)
            run = String.UnicodeScalarView()
        }
        for scalar in text {
            if let decomposition = nonStarterDecompositions[scalar.value] {
                run.append(contentsOf: decomposition)
            } else if isAssigned(scalar, by: normalizationVersion) {
                run.append(scalar)
            } else {
                flush()
                result.append(scalar)
            }
        }
        flush()
        return result
    }

    /// The three scalars of combining class 0 whose decompositions are two combining marks. The
    /// standard library treats them as starters and so does not reorder their marks with the marks
    /// before them (q U+0301 U+0F73 must become q U+0F71 U+0F72 U+0301). Writing them decomposed
    /// is canonically equivalent, and they never recompose (they are composition exclusions).
    private static let nonStarterDecompositions: [UInt32: [Unicode.Scalar]] = [
        0x0F73: ["\u{0F71}", "\u{0F72}"], 0x0F75: ["\u{0F71}", "\u{0F74}"], 0x0F81: ["\u{0F71}", "\u{0F80}"],
    ]
}

/// The classes the pre-tokenizer regexes use: `\p{L}`, `\p{N}`, `\s`, and everything else.
package enum ScalarClass: UInt8, Sendable {
    case letter, number, whitespace, other

    package init(_ scalar: Unicode.Scalar) {
        self = scalar.value < 0x80 ? Self.ascii[Int(scalar.value)] : Self.classify(scalar)
    }

    private static let ascii: [ScalarClass] = (0..<0x80).map { classify(Unicode.Scalar(UInt8($0))) }

    private static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        let properties = scalar.properties
        // Oniguruma's `\s` is the White_Space property (25 scalars, unchanged since Unicode 6.3).
        if properties.isWhitespace { return .whitespace }
        guard TokenizersUnicode.isAssigned(scalar, by: TokenizersUnicode.regexVersion) else { return .other }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}
