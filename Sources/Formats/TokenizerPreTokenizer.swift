/// When Metaspace puts a "▁" in front of a piece.
enum PrependScheme: String, Sendable {
    case first, always, never
}

/// The `pre_tokenizer` stage of tokenizer.json: null, Metaspace (newer Llama files), or byte-level:
/// ByteLevel alone (GPT-2) or Sequence[Split..., ByteLevel] (Qwen2).
enum TokenizerPreTokenizer: Sendable {
    case metaspace(MetaspacePreTokenizer)
    case byteLevel(ByteLevelPreTokenizer)

    init(_ node: JSONNode) throws(FormatError) {
        let object = try node.object()
        let type = try object.string("type")
        switch type {
        case "Metaspace":
            self = .metaspace(try MetaspacePreTokenizer(object))
        case "ByteLevel":
            self = .byteLevel(try ByteLevelPreTokenizer(splits: [], object))
        case "Sequence":
            let stages = try object.required("pretokenizers").array()
            let lastObject = try stages.last?.object()
            guard let lastObject, try lastObject.string("type") == "ByteLevel" else {
                throw FormatError(file: node.file, entry: "\(node.path).pretokenizers",
                                  "a Sequence pre-tokenizer is supported only as Split stages followed by one ByteLevel (Qwen2's layout)")
            }
            let splits = try stages.dropLast().map { (stage) throws(FormatError) in try SplitPattern(splitStage: stage) }
            self = .byteLevel(try ByteLevelPreTokenizer(splits: splits, lastObject))
        case "Split":
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "a Split pre-tokenizer is supported only inside a Sequence that ends with ByteLevel (Qwen2's layout)")
        default:
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "pre_tokenizer type '\(type)' is not supported (supported: null, Metaspace, ByteLevel, Sequence[Split, ByteLevel])")
        }
    }
}

/// Metaspace: spaces become "▁", with one in front as the prepend scheme says.
struct MetaspacePreTokenizer: Sendable {
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme
    /// Split into words before each replacement character ("▁a▁b" -> "▁a", "▁b").
    let split: Bool

    init(_ object: JSONObjectNode) throws(FormatError) {
        replacement = try object.required("replacement").scalar()
        prependScheme = try metaspacePrependScheme(object)
        split = try object.bool("split", default: true)
    }

    /// Words of one piece of normalized text. `atTextStart`: the piece begins at offset 0 of the
    /// original text, which is where prepend scheme "first" adds its "▁".
    func words(_ text: [Unicode.Scalar], atTextStart: Bool) -> [ArraySlice<Unicode.Scalar>] {
        var replaced = text.map { $0 == " " ? replacement : $0 }
        let startsWithReplacement = replaced.first == replacement
        switch prependScheme {
        case .always where !startsWithReplacement, .first where !startsWithReplacement && atTextStart:
            replaced.insert(replacement, at: 0)
        default:
            break
        }
        let all = replaced[...]
        guard split else { return all.isEmpty ? [] : [all] }
        // Each replacement character starts a new word (tokenizers' MergedWithNext).
        var words: [ArraySlice<Unicode.Scalar>] = []
        var start = 0
        for i in 1..<max(replaced.count, 1) where replaced[i] == replacement {
            words.append(all[start..<i])
            start = i
        }
        if start < replaced.count { words.append(all[start...]) }
        return words
    }
}

/// `prepend_scheme`, or the legacy `add_prefix_space` (true = always, false = never).
func metaspacePrependScheme(_ object: JSONObjectNode) throws(FormatError) -> PrependScheme {
    let legacy = try object.optional("add_prefix_space")?.bool()
    guard let node = object.optional("prepend_scheme") else {
        return legacy == false ? .never : .always
    }
    let name = try node.string()
    guard let scheme = PrependScheme(rawValue: name) else {
        throw node.failure("unknown prepend_scheme '\(name)' (expected first, always or never)")
    }
    if legacy == false && scheme != .never {
        throw node.failure("add_prefix_space false contradicts prepend_scheme '\(name)'")
    }
    return scheme
}
