/// A pre-tokenizer regex Discern knows, matched by a hand-written scanner that finds exactly what
/// tokenizers' regex engine (Oniguruma: leftmost match, alternatives tried in order, greedy with
/// backtracking) finds for that pattern. Any other pattern is refused when the file loads: a split
/// that is only close would change ids without a word.
package enum SplitPattern: Sendable {
    /// Qwen2 / Qwen2-VL's pattern (a Split stage before ByteLevel).
    case qwen2
    /// GPT-2's pattern (ByteLevel's own, with `use_regex`).
    case gpt2

    package static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The pattern whose source text is exactly `regex`, byte for byte.
    init?(regex: String) {
        if regex.utf8.elementsEqual(Self.qwen2Regex.utf8) {
            self = .qwen2
        } else if regex.utf8.elementsEqual(Self.gpt2Regex.utf8) {
            self = .gpt2
        } else {
            return nil
        }
    }

    /// A Split stage of a pre-tokenizer Sequence: a known Regex pattern, behavior Isolated, not inverted.
    init(splitStage node: JSONNode) throws(FormatError) {
        let object = try node.object()
        let type = try object.string("type")
        guard type == "Split" else {
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "only Split stages may come before the ByteLevel that ends a pre-tokenizer Sequence, not '\(type)'")
        }
        let pattern = try object.required("pattern").object()
        guard let regexNode = pattern.node("Regex") else {
            throw FormatError(file: node.file, entry: "\(node.path).pattern",
                              "only a {\"Regex\": ...} pattern is supported (Qwen2's or GPT-2's), not a literal String")
        }
        let regex = try regexNode.string()
        guard let known = SplitPattern(regex: regex) else {
            throw regexNode.failure("pattern \(regex.debugDescription) is not supported. Discern matches only these regexes, exactly, "
                                    + "by hand: Qwen2's \(Self.qwen2Regex.debugDescription) and GPT-2's \(Self.gpt2Regex.debugDescription)")
        }
        let behavior = try object.string("behavior")
        guard behavior == "Isolated" else {
            throw FormatError(file: node.file, entry: "\(node.path).behavior", "behavior '\(behavior)' is not supported (only Isolated, as Qwen2 has it)")
        }
        if try object.bool("invert") {
            throw FormatError(file: node.file, entry: "\(node.path).invert", "an inverted Split is not supported; expected false")
        }
        self = known
    }

    /// The consecutive matches that cover `text[range]`, as Split with behavior Isolated gives them.
    /// Each of these patterns matches at every position (every scalar is a letter, a number,
    /// whitespace or other, and each has an alternative), so there are no gaps between matches.
    func pieces(of text: [Unicode.Scalar], in range: Range<Int>) -> [Range<Int>] {
        let scan = PatternScan(text: text, range: range)
        var pieces: [Range<Int>] = []
        var start = range.lowerBound
        while start < range.upperBound {
            let end = self == .qwen2 ? scan.qwen2Match(at: start) : scan.gpt2Match(at: start)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }
}

/// One text range with the class of each scalar, and the match of each pattern at a position.
private struct PatternScan {
    let text: [Unicode.Scalar]
    let start: Int
    let end: Int
    let classes: [ScalarClass]

    init(text: [Unicode.Scalar], range: Range<Int>) {
        self.text = text
        start = range.lowerBound
        end = range.upperBound
        classes = text[range].map(ScalarClass.init)
    }

    func isClass(_ position: Int, _ wanted: ScalarClass) -> Bool { position < end && classes[position - start] == wanted }

    func isNewline(_ position: Int) -> Bool { position < end && (text[position] == "\r" || text[position] == "\n") }

    /// The end of the run of `wanted` scalars that starts at `position`.
    func runEnd(from position: Int, _ wanted: ScalarClass) -> Int {
        var index = position
        while isClass(index, wanted) { index += 1 }
        return index
    }

    private static let contractionSuffixes = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, case-insensitive inside Qwen2's `(?i:...)`.
    func contractionEnd(at position: Int, ignoringCase: Bool) -> Int? {
        guard text[position] == "'" else { return nil }
        for letters in Self.contractionSuffixes {
            guard position + letters.count < end else { continue }
            let matched = letters.indices.allSatisfy { caseMatches(text[position + 1 + $0], letters[$0], ignoringCase) }
            if matched { return position + 1 + letters.count }
        }
        return nil
    }

    /// Oniguruma's case folding for these letters: the ASCII pair, and U+017F long s for s.
    private func caseMatches(_ scalar: Unicode.Scalar, _ letter: Unicode.Scalar, _ ignoringCase: Bool) -> Bool {
        if scalar == letter { return true }
        guard ignoringCase else { return false }
        return scalar.value == letter.value - 0x20 || (letter == "s" && scalar == "\u{17F}")
    }

    /// `\s+(?!\S)|\s+` at whitespace: the run, less its last scalar when a non-space follows it
    /// (that scalar then starts the next piece, e.g. " word"), unless the run is one scalar.
    func whitespaceEnd(at position: Int) -> Int {
        let runEnd = runEnd(from: position, .whitespace)
        return runEnd == end || runEnd - position == 1 ? runEnd : runEnd - 1
    }

    /// Qwen2's alternatives, in order.
    func qwen2Match(at position: Int) -> Int {
        if let contraction = contractionEnd(at: position, ignoringCase: true) { return contraction }
        let here = classes[position - start]
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if here == .letter { return runEnd(from: position, .letter) }
        if here != .number, !isNewline(position), isClass(position + 1, .letter) { return runEnd(from: position + 1, .letter) }
        // \p{N}: one digit per piece
        if here == .number { return position + 1 }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let otherStart = text[position] == " " && isClass(position + 1, .other) ? position + 1 : position
        if isClass(otherStart, .other) {
            var index = runEnd(from: otherStart, .other)
            while isNewline(index) { index += 1 }
            return index
        }
        // Whitespace from here on. `\s*[\r\n]+` backtracks to the run's last newline.
        let runEnd = runEnd(from: position, .whitespace)
        if let lastNewline = (position..<runEnd).last(where: isNewline) { return lastNewline + 1 }
        return whitespaceEnd(at: position)
    }

    /// GPT-2's alternatives, in order: each of ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` takes a
    /// space in front only when a scalar of its class follows.
    func gpt2Match(at position: Int) -> Int {
        if let contraction = contractionEnd(at: position, ignoringCase: false) { return contraction }
        for wanted in [ScalarClass.letter, .number, .other] {
            if text[position] == " ", isClass(position + 1, wanted) { return runEnd(from: position + 1, wanted) }
            if isClass(position, wanted) { return runEnd(from: position, wanted) }
        }
        return whitespaceEnd(at: position)
    }
}
