/// A Hugging Face tokenizer.json of the Llama / LLaVA kind (SentencePiece-style BPE with byte
/// fallback) or the byte-level kind (GPT-2, Qwen2 / Qwen2-VL), reproducing the `tokenizers`
/// library's ids exactly. Stages, each in its own file:
/// added tokens -> normalizer -> pre-tokenizer -> BPE model -> post-processor; decoder for text.
/// Any stage type this reader does not implement is an error at load time, never skipped.
package final class Tokenizer: Sendable {
    package let path: String
    private let model: BPEModel
    private let normalizer: TokenizerNormalizer?
    private let preTokenizer: TokenizerPreTokenizer?
    private let postProcessor: TemplatePostProcessor?
    private let decoder: TokenizerDecoder?
    /// Added tokens matched in the raw text, then those matched in normalized text.
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let addedIDs: [ExactString: Int32]
    /// Id -> piece used by decode (added tokens override the model's pieces).
    private let pieces: [String?]
    private let specialContents: Set<ExactString>
    /// Every id the file names, for checks against a model.
    private let ids: TokenizerIDs

    /// Distinct pieces, model vocabulary and added tokens together (tokenizers'
    /// `get_vocab_size(with_added_tokens=True)`): the embedding table needs at least this many rows.
    package let vocabSize: Int
    /// tokenizer.json itself does not say which token plays which role; these go by name. Llama:
    /// `<s>`, `</s>`, `<pad>`. Qwen2 has no BOS, and `<|endoftext|>` is its EOS and pad (for the
    /// base models; the chat models end a turn, and generation, with `<|im_end|>`). Plus the model's unk token.
    package let bosTokenID: Int32?
    package let eosTokenID: Int32?
    package let padTokenID: Int32?
    /// `<|im_end|>`, which ends a turn of Qwen2's chat template.
    package let turnEndTokenID: Int32?
    package let unknownTokenID: Int32?

    /// Largest id accepted without a model to compare with: decode keeps one slot per id, so a
    /// hostile id near Int32.max would otherwise allocate tens of GB.
    package static let defaultIDLimit = 1 << 24

    /// `idLimit`: every id must be below it (a model directory passes its vocabulary size).
    package convenience init(path: String, idLimit: Int = Tokenizer.defaultIDLimit) throws(FormatError) {
        try self.init(json: try readFileBytes(path), path: path, idLimit: idLimit)
    }

    package static func load(_ path: String) throws(FormatError) -> Tokenizer { try Tokenizer(path: path) }

    /// `path` only names the source in error messages.
    package init(json: [UInt8], path: String, idLimit: Int = Tokenizer.defaultIDLimit) throws(FormatError) {
        self.path = path
        let root = try JSONNode.parse(json, file: path).object()
        for key in ["truncation", "padding"] {
            if let node = root.optional(key) {
                throw node.failure("is set in the file; Discern does its own truncation and padding, so set it to null")
            }
        }
        let model = try BPEModel(try root.required("model").object())
        self.model = model
        let normalizer = try root.optional("normalizer").map { (node) throws(FormatError) in try TokenizerNormalizer(node) }
        self.normalizer = normalizer
        let preTokenizer = try root.optional("pre_tokenizer").map { (node) throws(FormatError) in try TokenizerPreTokenizer(node) }
        self.preTokenizer = preTokenizer
        if case .byteLevel = preTokenizer, model.byteFallback {
            throw FormatError(file: path, entry: "model.byte_fallback",
                              "is true, but the pre-tokenizer is ByteLevel, which spells every byte as a character of the vocabulary, so "
                              + "<0xXX> byte pieces never apply: the file mixes two kinds of tokenizer. Byte-level files (GPT-2, Qwen2) have false")
        }
        postProcessor = try root.optional("post_processor").flatMap { (node) throws(FormatError) in try TemplatePostProcessor.template(of: node) }
        decoder = try root.optional("decoder").map { (node) throws(FormatError) in try TokenizerDecoder(node) }

        let added = try (root.optional("added_tokens")?.array() ?? []).map { (node) throws(FormatError) in try AddedToken(node) }
        let tables = AddedTokenTables(added, normalizer: normalizer)
        let addedIDs = tables.ids
        rawMatcher = AddedTokenMatcher(tables.raw)
        normalizedMatcher = AddedTokenMatcher(tables.normalized)
        self.addedIDs = addedIDs
        self.specialContents = tables.specialContents

        var allPieces = Set(model.vocabulary.keys)
        allPieces.formUnion(addedIDs.keys)
        vocabSize = allPieces.count
        let ids = TokenizerIDs(vocabulary: model.vocabulary, added: added, postProcessor: postProcessor)
        self.ids = ids
        if let (token, id) = ids.first(where: { Int($0) >= idLimit }) {
            throw FormatError(file: path, "token \(token) has id \(id); ids must be below \(idLimit) (the model's vocabulary size, at most \(Self.defaultIDLimit)). The tokenizer does not belong to this model, or the file is damaged")
        }
        let largestID = max(model.vocabulary.values.max() ?? -1, added.map(\.id).max() ?? -1)
        var pieces = [String?](repeating: nil, count: Int(largestID) + 1)
        for (piece, id) in model.vocabulary { pieces[Int(id)] = piece.value }
        for (id, piece) in tables.pieceOverrides { pieces[Int(id)] = piece }
        self.pieces = pieces

        func lookup(_ piece: String) -> Int32? { addedIDs[ExactString(piece)] ?? model.vocabulary[ExactString(piece)] }
        bosTokenID = lookup("<s>")
        eosTokenID = lookup("</s>") ?? lookup("<|endoftext|>")
        padTokenID = lookup("<pad>") ?? lookup("<|endoftext|>")
        turnEndTokenID = lookup("<|im_end|>")
        unknownTokenID = model.unknownID
    }

    /// The first token (lowest id) whose id fails `isOutside`, with its name for messages: a
    /// vocabulary piece, an added token or a post-processor special token.
    package func firstToken(where isOutside: (Int32) -> Bool) -> (token: String, id: Int32)? {
        ids.first(where: isOutside)
    }

    /// The id of a piece (added tokens first, then the model vocabulary), compared byte for byte.
    package func tokenID(for piece: String) -> Int32? {
        addedIDs[ExactString(piece)] ?? model.vocabulary[ExactString(piece)]
    }

    /// The piece of an id as decode sees it, or nil for an id the tokenizer does not know.
    package func piece(for id: Int32) -> String? {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : nil
    }

    /// Token ids for `text`; with `addSpecialTokens` the post-processor's template is applied
    /// (for Llama: `<s>` in front; Qwen2's ByteLevel post-processor adds nothing).
    package func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        for split in rawMatcher.split(scalars, 0..<scalars.count) {
            switch split {
            case .token(let id):
                ids.append(id)
            case .text(let range):
                let piece = Array(scalars[range])
                let normalizedPiece = normalizer?.apply(piece) ?? piece
                for (index, inner) in normalizedMatcher.split(normalizedPiece, 0..<normalizedPiece.count).enumerated() {
                    switch inner {
                    case .token(let id):
                        ids.append(id)
                    case .text(let innerRange):
                        // Only the first text of the whole input starts at original offset 0.
                        // (Approximation: tokenizers maps normalized offsets back exactly; the two
                        // differ only when a normalized added token sits at the very start.)
                        let atTextStart = range.lowerBound == 0 && index == 0 && innerRange.lowerBound == 0
                        tokenize(Array(normalizedPiece[innerRange]), atTextStart: atTextStart, into: &ids)
                    }
                }
            }
        }
        return postProcessor?.apply(ids, addSpecialTokens: addSpecialTokens) ?? ids
    }

    private func tokenize(_ text: [Unicode.Scalar], atTextStart: Bool, into ids: inout [Int32]) {
        switch preTokenizer {
        case nil:
            model.tokenize(text[...], into: &ids)
        case .metaspace(let metaspace):
            for word in metaspace.words(text, atTextStart: atTextStart) { model.tokenize(word, into: &ids) }
        case .byteLevel(let byteLevel):
            for word in byteLevel.words(text) { model.tokenize(bytes: word, into: &ids) }
        }
    }

    /// Text for `ids` through the file's decoder. Like tokenizers, unknown ids are skipped, and
    /// with `skipSpecialTokens` so are special added tokens (`<s>`, `<image>`, `<pad>`, ...).
    package func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let piece = piece(for: id) else { continue }
            if skipSpecialTokens && specialContents.contains(ExactString(piece)) { continue }
            tokens.append(piece)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }
}
