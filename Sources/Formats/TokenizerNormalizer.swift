/// The `normalizer` stage of tokenizer.json. Only the normalizers Llama and Qwen2 files use are
/// supported; anything else is rejected when the file is loaded rather than silently skipped,
/// because skipping a normalizer changes every id.
indirect enum TokenizerNormalizer: Sendable {
    /// Prepends text to a non-empty piece (legacy Llama: "▁").
    case prepend([Unicode.Scalar])
    /// Replaces every occurrence of a literal string (legacy Llama: " " -> "▁").
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    /// Unicode canonical composition (Qwen2), with tokenizers' own Unicode version.
    case nfc
    case sequence([TokenizerNormalizer])

    init(_ node: JSONNode) throws(FormatError) {
        let object = try node.object()
        let type = try object.string("type")
        switch type {
        case "Prepend":
            self = .prepend(Array(try object.string("prepend").unicodeScalars))
        case "Replace":
            let (pattern, content) = try literalReplacement(object)
            self = .replace(pattern: pattern, content: content)
        case "NFC":
            self = .nfc
        case "Sequence":
            self = .sequence(try object.required("normalizers").array().map { (child) throws(FormatError) in try TokenizerNormalizer(child) })
        default:
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "normalizer type '\(type)' is not supported (supported: Prepend, Replace, NFC, Sequence)")
        }
    }

    func apply(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return replacingOccurrences(in: text, of: pattern, with: content)
        case .nfc:
            return TokenizersUnicode.nfc(text)
        case .sequence(let normalizers):
            return normalizers.reduce(text) { $1.apply($0) }
        }
    }
}

/// A Replace stage's literal pattern and content (normalizers and decoders share the format:
/// `{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`). Regex patterns are rejected.
func literalReplacement(_ object: JSONObjectNode) throws(FormatError) -> (pattern: [Unicode.Scalar], content: [Unicode.Scalar]) {
    let patternNode = try object.required("pattern").object()
    guard let literal = patternNode.node("String") else {
        throw FormatError(file: object.file, entry: "\(object.path).pattern",
                          "only {\"String\": ...} patterns are supported, not regular expressions")
    }
    let pattern = Array(try literal.string().unicodeScalars)
    guard !pattern.isEmpty else { throw literal.failure("a Replace pattern must not be empty") }
    return (pattern, Array(try object.string("content").unicodeScalars))
}

/// Non-overlapping, left-to-right replacement (Rust's `str::replace`), compared scalar by scalar.
func replacingOccurrences(in text: [Unicode.Scalar], of pattern: [Unicode.Scalar], with content: [Unicode.Scalar]) -> [Unicode.Scalar] {
    var result: [Unicode.Scalar] = []
    result.reserveCapacity(text.count)
    var i = 0
    while i < text.count {
        if text[i] == pattern[0], i + pattern.count <= text.count, text[i..<(i + pattern.count)].elementsEqual(pattern) {
            result.append(contentsOf: content)
            i += pattern.count
        } else {
            result.append(text[i])
            i += 1
        }
    }
    return result
}
