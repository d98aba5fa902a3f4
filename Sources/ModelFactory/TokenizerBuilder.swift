import Formats
import Models

/// Builds a small Llama-style tokenizer.json (the legacy LLaVA-1.5 layout, docs/model.md) whose
/// every given word is ONE piece, so captions made of those words never hit byte fallback.
///
/// Layout: `<unk>`=0, `<s>`=1, `</s>`=2, `<0x00>`..`<0xFF>`=3..258, then single characters,
/// then each word's pieces, then the added tokens `<image>` and `<pad>`. Normalizer
/// Prepend("▁") + Replace(" " -> "▁"), no pre-tokenizer, BPE with byte fallback and fuse_unk,
/// TemplateProcessing adding `<s>`, decoder Replace/ByteFallback/Fuse/Strip.
///
/// Merges: one chain per word over its prefixes ("▁ c" -> "▁c", "▁c i" -> "▁ci", ...). In a
/// "▁word" only the leftmost symbol can merge, so BPE grows it letter by letter into the whole
/// word. Bare words (without "▁", e.g. "Summary" right after the prompt's newline) rank after
/// every "▁" merge, so they cannot cut into a "▁word". `build` checks every word with
/// Formats.Tokenizer before returning.
package struct TokenizerBuilder: Sendable {
    package static let space = "\u{2581}"
    /// The words of the E5-V prompts ("<image>\nSummary above image in one word:") and the
    /// LLaVA-1.5 chat wrapper ("USER: ... ASSISTANT:").
    package static let promptWords = ["Summary", "above", "image", "sentence", "in", "one", "word", "USER", "ASSISTANT"]
    /// Words that also need a piece without the leading "▁": "Summary" follows "\n" in the prompts.
    package static let promptBareWords = ["Summary"]
    /// Single characters with their own piece: punctuation, digits and letters, so text outside
    /// the vocabulary still tokenises into characters rather than bytes.
    package static let characters: [String] = {
        let punctuation = Array(".,:;!?'\"-()/").map(String.init)
        let digits = (0..<10).map(String.init)
        let lower = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        let upper = (UInt8(ascii: "A")...UInt8(ascii: "Z")).map { String(UnicodeScalar($0)) }
        return [space] + punctuation + digits + lower + upper
    }()

    package let words: [String]
    package let bareWords: [String]

    /// `words` get a "▁word" piece each (duplicates are ignored); `bareWords` a "word" piece.
    package init(words: [String], bareWords: [String] = TokenizerBuilder.promptBareWords) {
        var seen = Set<String>()
        self.words = (words + Self.promptWords).filter { seen.insert($0).inserted }
        var seenBare = Set<String>()
        self.bareWords = bareWords.filter { seenBare.insert($0).inserted }
    }

    /// The built file and the ids a model config needs.
    package struct Result: Sendable {
        package let json: String
        package let tokenizer: Tokenizer
        /// Pieces plus added tokens: the embedding table's row count.
        package let vocabularySize: Int
        package let imageTokenID: Int
        package let padTokenID: Int
    }

    package func build() throws -> Result {
        for word in words + bareWords {
            guard !word.isEmpty, !word.unicodeScalars.contains(where: { $0 == " " || $0 == "\n" || $0 == "\t" }),
                  !word.contains(Self.space), !(word.hasPrefix("<") && word.hasSuffix(">")) else {
                throw ModelConfigError("tokenizer builder: '\(word)' cannot be a vocabulary word (empty, whitespace, '▁' or <...>).")
            }
        }
        var table = PieceTable()
        for piece in ["<unk>", "<s>", "</s>"] + (0..<256).map(byteTokenName) + Self.characters { table.add(piece) }
        let chains = words.map { Self.space + $0 } + bareWords
        for chain in chains { for scalar in chain.unicodeScalars { table.add(String(scalar)) } }
        for chain in chains { table.addPrefixChain(chain.unicodeScalars.map(String.init)) }
        let imageTokenID = table.pieces.count, padTokenID = table.pieces.count + 1
        let json = Self.document(table, imageTokenID: imageTokenID, padTokenID: padTokenID)
        let tokenizer = try Tokenizer(json: Array(json.utf8), path: "tokenizer builder")
        try verify(tokenizer)
        return Result(json: json, tokenizer: tokenizer, vocabularySize: table.pieces.count + 2, imageTokenID: imageTokenID,
                      padTokenID: padTokenID)
    }

    /// Every word encodes to its one piece, and decodes back.
    func verify(_ tokenizer: Tokenizer) throws {
        for word in words { try requirePieces(tokenizer, word, [Self.space + word]) }
        // After a newline the normalizer's "▁" stands alone and the newline is a byte piece.
        for word in bareWords { try requirePieces(tokenizer, "\n" + word, [Self.space, byteTokenName(0x0A), word]) }
    }

    /// tokenizer.json text, deterministic (vocabulary in id order, one entry a line).
    static func document(_ table: PieceTable, imageTokenID: Int, padTokenID: Int) -> String {
        func added(_ id: Int, _ content: String) -> String { addedTokenJSON(id: id, content: content) }
        let space = jsonString(Self.space)
        let addedTokens = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(imageTokenID, "<image>"), added(padTokenID, "<pad>")]
        let bos = "{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}"
        return """
        {
          "version": "1.0",
          "truncation": null,
          "padding": null,
          "added_tokens": [
        \(addedTokens.joined(separator: ",\n"))
          ],
          "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": \(space)}, {"type": "Replace", "pattern": {"String": " "}, "content": \(space)}]},
          "pre_tokenizer": null,
          "post_processor": {
            "type": "TemplateProcessing",
            "single": [\(bos), {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [\(bos), {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
          },
          "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": \(space)}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": "<unk>",
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": true,
            "byte_fallback": true,
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

/// "<0x0A>": the byte-fallback piece of a byte.
func byteTokenName(_ byte: Int) -> String {
    let hex = String(byte, radix: 16, uppercase: true)
    return "<0x" + (hex.count < 2 ? "0" : "") + hex + ">"
}

