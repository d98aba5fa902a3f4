import Formats
import Models

/// A BPE vocabulary as the tokenizer builders grow it: pieces in id order and merges in rank
/// order, each kept once however many words ask for it.
struct PieceTable {
    private(set) var pieces: [String] = []
    private(set) var merges: [(String, String)] = []
    private var knownPieces = Set<String>(), knownMerges = Set<String>()

    mutating func add(_ piece: String) {
        if knownPieces.insert(piece).inserted { pieces.append(piece) }
    }

    /// One merge chain over `symbols` (each already a piece): "▁ c" -> "▁c", "▁c i" -> "▁ci", ...
    /// BPE following it joins the symbols left to right into the whole word; a merge another
    /// chain already added keeps its earlier rank.
    mutating func addPrefixChain(_ symbols: [String]) {
        guard var prefix = symbols.first else { return }
        for symbol in symbols.dropFirst() {
            if knownMerges.insert(prefix + " " + symbol).inserted { merges.append((prefix, symbol)) }
            prefix += symbol
            add(prefix)
        }
    }

    /// The model's "vocab" entries, one a line, in id order.
    var vocabularyJSON: String { pieces.enumerated().map { "      \(jsonString($1)): \($0)" }.joined(separator: ",\n") }
    /// The model's "merges", one a line, in rank order.
    var mergesJSON: String { merges.map { "      \(jsonString($0.0 + " " + $0.1))" }.joined(separator: ",\n") }
}

/// One `added_tokens` entry of tokenizer.json: a special token matched before the model runs.
func addedTokenJSON(id: Int, content: String) -> String {
    "    {\"id\": \(id), \"content\": \(jsonString(content)), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
}

/// A built tokenizer's check: `text` encodes (without special tokens) to exactly `expected`
/// pieces and decodes back to `text`.
func requirePieces(_ tokenizer: Tokenizer, _ text: String, _ expected: [String]) throws {
    let ids = tokenizer.encode(text, addSpecialTokens: false)
    let pieces = ids.map { tokenizer.piece(for: $0) ?? "?" }
    guard pieces == expected else {
        throw ModelConfigError("tokenizer builder: \(text.debugDescription) encodes to \(pieces) instead of \(expected); the merge chains are inconsistent.")
    }
    guard tokenizer.decode(ids) == text else { throw ModelConfigError("tokenizer builder: \(text.debugDescription) does not decode back.") }
}
