/// One entry of tokenizer.json's `added_tokens` (`<image>`, `<pad>`, `<s>`, ...).
struct AddedToken: Sendable {
    let id: Int32
    let content: String
    /// Only match when not inside a word.
    let singleWord: Bool
    /// Swallow whitespace to the left / right of the token into the match.
    let leftStrip: Bool
    let rightStrip: Bool
    /// Matched in the normalized text (pattern = normalizer(content)) rather than the raw text.
    let normalized: Bool
    let special: Bool

    init(_ node: JSONNode) throws(FormatError) {
        let object = try node.object()
        let id = try object.integer("id")
        guard id >= 0, id <= Int(Int32.max) else { throw node.failure("id \(id) is out of range") }
        self.id = Int32(id)
        content = try object.string("content")
        guard !content.isEmpty else { throw node.failure("an added token's content must not be empty") }
        singleWord = try object.bool("single_word", default: false)
        leftStrip = try object.bool("lstrip", default: false)
        rightStrip = try object.bool("rstrip", default: false)
        special = try object.bool("special", default: false)
        normalized = try object.bool("normalized", default: !special)  // tokenizers' default
    }
}

/// The added tokens sorted for matching: those matched against raw text and those matched
/// against normalized text, their ids, which are special, and the piece `decode` shows for each.
struct AddedTokenTables {
    var ids: [ExactString: Int32] = [:]
    var raw: [(pattern: [Unicode.Scalar], token: AddedToken)] = []
    var normalized: [(pattern: [Unicode.Scalar], token: AddedToken)] = []
    var specialContents = Set<ExactString>()
    var pieceOverrides: [Int32: String] = [:]

    init(_ added: [AddedToken], normalizer: TokenizerNormalizer?) {
        for token in added {
            ids[ExactString(token.content)] = token.id
            if token.special { specialContents.insert(ExactString(token.content)) }
            let content = Array(token.content.unicodeScalars)
            if token.normalized {
                // tokenizers matches these against normalized text, so their pattern (and the
                // piece decode shows for them) is the normalized content.
                let pattern = normalizer?.apply(content) ?? content
                normalized.append((pattern, token))
                pieceOverrides[token.id] = string(pattern)
            } else {
                raw.append((content, token))
                pieceOverrides[token.id] = token.content
            }
        }
    }
}

/// A piece of text after added tokens are split out: an added token's id, or a range of text
/// that still has to be tokenized.
enum TextSplit {
    case token(Int32)
    case text(Range<Int>)
}

/// Finds added tokens in text the way tokenizers' AddedVocabulary does: leftmost-longest matches,
/// skipping single-word tokens inside words, widening lstrip/rstrip matches over whitespace.
struct AddedTokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let token: AddedToken
    }

    /// Patterns by their first scalar, longest first.
    private let patternsByFirst: [Unicode.Scalar: [Pattern]]

    init(_ tokens: [(pattern: [Unicode.Scalar], token: AddedToken)]) {
        var byFirst: [Unicode.Scalar: [Pattern]] = [:]
        for (pattern, token) in tokens where !pattern.isEmpty {
            byFirst[pattern[0], default: []].append(Pattern(scalars: pattern, token: token))
        }
        patternsByFirst = byFirst.mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
    }

    var isEmpty: Bool { patternsByFirst.isEmpty }

    /// The longest pattern that matches at `start` and ends by `end`.
    private func longestMatch(_ text: [Unicode.Scalar], at start: Int, end: Int) -> Pattern? {
        guard let candidates = patternsByFirst[text[start]] else { return nil }
        for pattern in candidates where start + pattern.scalars.count <= end {
            if text[start..<(start + pattern.scalars.count)].elementsEqual(pattern.scalars) { return pattern }
        }
        return nil
    }

    /// Splits `text[range]`; empty text pieces are dropped (tokenizers filters them too).
    func split(_ text: [Unicode.Scalar], _ range: Range<Int>) -> [TextSplit] {
        if isEmpty { return range.isEmpty ? [] : [.text(range)] }
        var result: [TextSplit] = []
        var pieceStart = range.lowerBound  // start of the text not yet emitted
        var search = range.lowerBound
        while search < range.upperBound {
            guard let match = longestMatch(text, at: search, end: range.upperBound) else {
                search += 1
                continue
            }
            var start = search
            var stop = search + match.scalars.count
            search = stop  // the matcher resumes after the match itself, not after stripped space
            if match.token.singleWord {
                let wordBefore = start > range.lowerBound && isWordScalar(text[start - 1])
                let wordAfter = stop < range.upperBound && isWordScalar(text[stop])
                if wordBefore || wordAfter { continue }
            }
            if match.token.leftStrip {
                while start > pieceStart && text[start - 1].properties.isWhitespace { start -= 1 }
            }
            if match.token.rightStrip {
                while stop < range.upperBound && text[stop].properties.isWhitespace { stop += 1 }
            }
            if pieceStart < start { result.append(.text(pieceStart..<start)) }
            result.append(.token(match.token.id))
            pieceStart = stop
            search = max(search, stop)
        }
        if pieceStart < range.upperBound { result.append(.text(pieceStart..<range.upperBound)) }
        return result
    }
}

/// Rust regex `\w`: alphabetic, marks, decimal digits, connector punctuation, join controls.
func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
    let properties = scalar.properties
    if properties.isAlphabetic || properties.isJoinControl { return true }
    switch properties.generalCategory {
    case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
    default: return false
    }
}

/// Every id a tokenizer.json names (vocabulary, added tokens, post-processor templates) with a
/// name for each, so a check against a model's vocabulary can say which token is wrong.
struct TokenizerIDs: Sendable {
    let named: [(token: String, id: Int32)]

    init(vocabulary: [ExactString: Int32], added: [AddedToken], postProcessor: TemplatePostProcessor?) {
        var named = vocabulary.map { (token: "'\($0.key.value)' (model.vocab)", id: $0.value) }
        named += added.map { (token: "'\($0.content)' (added_tokens)", id: $0.id) }
        for ids in postProcessor?.single ?? [] { named += (ids ?? []).map { (token: "post_processor special token", id: $0) } }
        self.named = named.sorted { $0.id < $1.id }
    }

    func first(where isOutside: (Int32) -> Bool) -> (token: String, id: Int32)? {
        named.first { isOutside($0.id) }
    }
}
