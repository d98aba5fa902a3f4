import Formats
import Foundation
import Models

/// Builds a small Qwen2-style tokenizer.json (byte-level BPE, the layout of Qwen2-VL's hub file:
/// NFC normalizer; Split on Qwen2's regex, Isolated, then ByteLevel without its own regex;
/// ByteLevel post-processor, which adds nothing (no BOS), and decoder) whose every given word is
/// ONE piece, both bare ("left", starting a caption or after a newline) and after a space ("Ġleft").
///
/// Layout: the 256 byte symbols in the alphabet's scalar order (Qwen2's and GPT-2's first ids),
/// the words' pieces, then Qwen2-VL's 14 added special tokens (`<|endoftext|>` ... `<|video_pad|>`).
///
/// Merges: one chain per word over its prefixes (PieceTable). Every "Ġword" chain ranks first: in
/// a "Ġword" only the leftmost symbol starts with Ġ, so BPE grows it letter by letter into the
/// whole word before any bare merge applies. A bare chain can be cut by another word's chain
/// whose first two letters occur inside it ("or" of "orange" inside "color"), so the bare chains
/// are ordered with every word ahead of the words whose start it contains (`bareChainOrder`).
/// `build` checks every word with Formats.Tokenizer before returning.
package struct ByteLevelTokenizerBuilder: Sendable {
    /// Qwen2-VL's added tokens, in its tokenizer's order.
    package static let specialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                                        "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                                        "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
    /// The byte-level spelling of a space.
    static let space = String(ByteLevelAlphabet.scalarOfByte[0x20])

    package let words: [String]

    /// `words` and the prompt words (TokenizerBuilder.promptWords) get both pieces each;
    /// duplicates are ignored.
    package init(words: [String]) {
        var seen = Set<String>()
        self.words = (words + TokenizerBuilder.promptWords).filter { seen.insert($0).inserted }
    }

    /// The built file and the ids a model config needs.
    package struct Result: Sendable {
        package let json: String
        package let tokenizer: Tokenizer
        /// Pieces plus added tokens.
        package let tokenCount: Int
        /// Each added token's id.
        package let specialIDs: [String: Int]
    }

    package func build() throws -> Result {
        for word in words where word.isEmpty || !word.unicodeScalars.allSatisfy(Self.isLetter) {
            throw ModelConfigError("tokenizer builder: '\(word)' cannot be a vocabulary word: Qwen2's pre-tokenizer keeps only a run of letters whole.")
        }
        var table = PieceTable()
        for scalar in ByteLevelAlphabet.scalarOfByte.sorted(by: { $0.value < $1.value }) { table.add(String(scalar)) }
        for word in words { table.addPrefixChain([Self.space] + Self.spelled(word)) }
        for word in try Self.bareChainOrder(words) { table.addPrefixChain(Self.spelled(word)) }
        let first = table.pieces.count
        let specialIDs = Dictionary(uniqueKeysWithValues: Self.specialTokens.enumerated().map { ($1, first + $0) })
        let json = Self.document(table, firstSpecialID: first)
        let tokenizer = try Tokenizer(json: Array(json.utf8), path: "tokenizer builder")
        for word in words {
            try requirePieces(tokenizer, word, [Self.spelled(word).joined()])
            try requirePieces(tokenizer, " " + word, [Self.space + Self.spelled(word).joined()])
        }
        return Result(json: json, tokenizer: tokenizer, tokenCount: first + Self.specialTokens.count, specialIDs: specialIDs)
    }

    /// \p{L}: what the pattern's `\p{L}+` keeps together.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// A word's symbols: its NFC UTF-8 bytes in the byte-level alphabet.
    static func spelled(_ word: String) -> [String] {
        word.precomposedStringWithCanonicalMapping.utf8.map { String(ByteLevelAlphabet.scalarOfByte[Int($0)]) }
    }

    /// The words in an order where no bare chain is cut by an earlier one: a word goes before
    /// every word whose first two symbols occur in it past its own first symbol (only a chain's
    /// first merge can start inside another word, and ranking the cut word first lets its own
    /// chain finish there). Otherwise the given order is kept.
    package static func bareChainOrder(_ words: [String]) throws -> [String] {
        let spellings = words.map(spelled)
        func cuts(_ v: Int, into w: Int) -> Bool {
            let start = spellings[v].prefix(2), inside = spellings[w].dropFirst()
            return start.count == 2 && inside.indices.dropLast().contains { inside[$0] == start.first && inside[$0 + 1] == start.last }
        }
        if let word = words.indices.first(where: { cuts($0, into: $0) }) {
            throw ModelConfigError("tokenizer builder: '\(words[word])' contains its own first two letters again, so its merge chain would cut itself; drop it from the vocabulary.")
        }
        var placed = [Bool](repeating: false, count: words.count), order: [String] = []
        while order.count < words.count {
            // The first word not yet placed that no unplaced word's chain would cut.
            guard let next = words.indices.first(where: { w in !placed[w] && !words.indices.contains { !placed[$0] && $0 != w && cuts(w, into: $0) } }) else {
                let left = words.indices.filter { !placed[$0] }.map { words[$0] }
                throw ModelConfigError("tokenizer builder: the words \(left) each contain another's first two letters, so no order of merges keeps every one whole; drop one of them.")
            }
            placed[next] = true
            order.append(words[next])
        }
        return order
    }

    /// tokenizer.json text, deterministic (vocabulary in id order, one entry a line).
    static func document(_ table: PieceTable, firstSpecialID: Int) -> String {
        let added = specialTokens.enumerated().map { addedTokenJSON(id: firstSpecialID + $0, content: $1) }
        let byteLevel = "\"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false"
        return """
        {
          "version": "1.0",
          "truncation": null,
          "padding": null,
          "added_tokens": [
        \(added.joined(separator: ",\n"))
          ],
          "normalizer": {"type": "NFC"},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": \(jsonString(SplitPattern.qwen2Regex))}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", \(byteLevel)}]},
          "post_processor": {"type": "ByteLevel", \(byteLevel)},
          "decoder": {"type": "ByteLevel", \(byteLevel)},
          "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": {
        \(table.vocabularyJSON)
            },
            "merges": [
        \(table.mergesJSON)
            ]
          }
        }

        """
    }
}
