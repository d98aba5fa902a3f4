/// A String compared and hashed by its exact UTF-8 bytes. Swift's String equality uses canonical
/// equivalence ("é" == "e\u{301}"), but a vocabulary holds both spellings as different pieces.
struct ExactString: Hashable, Sendable {
    let value: String

    init(_ value: String) { self.value = value }
    init<S: Sequence>(_ scalars: S) where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        value = String(view)
    }

    static func == (a: ExactString, b: ExactString) -> Bool { a.value.utf8.elementsEqual(b.value.utf8) }

    func hash(into hasher: inout Hasher) {
        var copy = value
        copy.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

/// The `model` stage of tokenizer.json: BPE as the tokenizers library does it (models/bpe/model.rs
/// `merge_word`, word.rs `merge_all`), over Unicode scalars with byte fallback (Llama) or over the
/// bytes of byte-level words (GPT-2, Qwen2).
struct BPEModel: Sendable {
    let vocabulary: [ExactString: Int32]
    /// Pieces that are one Unicode scalar, the starting symbols of every word.
    let scalarIDs: [UInt32: Int32]
    /// `<0xXX>` piece ids, nil where the vocabulary lacks one.
    let byteIDs: [Int32?]
    /// Ids of the byte-level alphabet's scalar for each byte, nil where the vocabulary lacks one: a
    /// byte-level word's first symbols come from this table, not from a dictionary.
    let byteLevelIDs: [Int32?]
    /// (left id, right id) packed into 64 bits -> (rank, merged id). Rank is the merges index.
    let merges: [UInt64: (rank: Int32, merged: Int32)]
    let unknownID: Int32?
    let fuseUnknown: Bool
    let byteFallback: Bool
    /// If a whole word is a piece, take it without merging (Llama-3 style files).
    let ignoreMerges: Bool

    init(_ model: JSONObjectNode) throws(FormatError) {
        let type = try model.optional("type")?.string() ?? "BPE"
        guard type == "BPE" else {
            throw FormatError(file: model.file, entry: "model.type", "model type '\(type)' is not supported (only BPE)")
        }
        if let dropout = model.optional("dropout"), try dropout.double() != 0 {
            throw dropout.failure("BPE dropout makes tokenization random; only null or 0 is supported")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let node = model.optional(key), try !node.string().isEmpty {
                throw node.failure("is not supported (Llama-style BPE has none); expected null")
            }
        }
        fuseUnknown = try model.bool("fuse_unk", default: false)
        byteFallback = try model.bool("byte_fallback", default: false)
        ignoreMerges = try model.bool("ignore_merges", default: false)

        var vocabulary: [ExactString: Int32] = [:]
        var seenIDs = Set<Int32>()
        var scalarIDs: [UInt32: Int32] = [:]
        for (piece, node) in try model.required("vocab").object().nodes {
            let id = try node.integer()
            guard id >= 0, id <= Int(Int32.max), seenIDs.insert(Int32(id)).inserted else {
                throw node.failure("id \(id) is negative, too large or used by two pieces")
            }
            vocabulary[ExactString(piece)] = Int32(id)
            if piece.unicodeScalars.count == 1 { scalarIDs[piece.unicodeScalars.first!.value] = Int32(id) }
        }
        self.vocabulary = vocabulary
        self.scalarIDs = scalarIDs
        byteIDs = (0..<256).map { vocabulary[ExactString(byteTokenName($0))] }
        byteLevelIDs = ByteLevelAlphabet.scalarOfByte.map { scalarIDs[$0.value] }

        if let unknown = model.optional("unk_token") {
            let piece = try unknown.string()
            guard let id = vocabulary[ExactString(piece)] else { throw unknown.failure("unk_token '\(piece)' is not in the vocabulary") }
            unknownID = id
        } else {
            unknownID = nil
        }

        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        for (rank, node) in try model.required("merges").array().enumerated() {
            let (left, right) = try Self.mergePair(node)
            guard let a = vocabulary[ExactString(left)], let b = vocabulary[ExactString(right)],
                  let merged = vocabulary[ExactString(left + right)]
            else {
                throw node.failure("merge \"\(left)\" + \"\(right)\" uses a piece that is not in the vocabulary")
            }
            merges[Self.pairKey(a, b)] = (Int32(rank), merged)  // a repeated pair: the later rank wins, as in tokenizers
        }
        self.merges = merges
    }

    /// Older files write a merge as "a b", newer ones as ["a", "b"].
    static func mergePair(_ node: JSONNode) throws(FormatError) -> (String, String) {
        if case .string(let text) = node.value {
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw node.failure("merge \"\(text)\" is not two pieces separated by one space") }
            return (String(parts[0]), String(parts[1]))
        }
        let pair = try node.array()
        guard pair.count == 2 else { throw node.failure("a merge pair must have two pieces") }
        return (try pair[0].string(), try pair[1].string())
    }

    static func pairKey(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// Token ids of one pre-tokenized word.
    func tokenize(_ word: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        mergeWord(word, asPiece: { ExactString(word) }, into: &ids) { scalar, symbols, unknown in
            if let id = scalarIDs[scalar.value] { return unknown.add(id, into: &symbols) }
            if byteFallback {
                let bytes = Array(String(scalar).utf8)
                if bytes.allSatisfy({ byteIDs[Int($0)] != nil }) {
                    // As in tokenizers, byte pieces do not flush a pending unknown first.
                    for byte in bytes { symbols.append(byteIDs[Int(byte)]!) }
                    return
                }
            }
            unknown.add(nil, into: &symbols)
        }
    }

    /// Token ids of one byte-level word (its UTF-8 bytes; the pieces spell them in the alphabet).
    func tokenize(bytes word: [UInt8], into ids: inout [Int32]) {
        mergeWord(word, asPiece: { ExactString(word.map { ByteLevelAlphabet.scalarOfByte[Int($0)] }) }, into: &ids) { byte, symbols, unknown in
            unknown.add(byteLevelIDs[Int(byte)], into: &symbols)
        }
    }

    /// BPE over one word: `addSymbols` appends each element's first symbols, then the merges run.
    /// With ignore_merges a word that is a piece whole (`asPiece`) is that piece.
    private func mergeWord<Word: Collection>(_ word: Word, asPiece: () -> ExactString, into ids: inout [Int32],
                                             addSymbols: (Word.Element, inout [Int32], inout UnknownRun) -> Void) {
        if word.isEmpty { return }
        if ignoreMerges, let id = vocabulary[asPiece()] {
            ids.append(id)
            return
        }
        var symbols: [Int32] = []
        symbols.reserveCapacity(word.count)
        var unknown = UnknownRun(id: unknownID, fuse: fuseUnknown)
        for element in word { addSymbols(element, &symbols, &unknown) }
        unknown.flush(into: &symbols)
        mergeAll(&symbols)
        ids.append(contentsOf: symbols)
    }

    /// Repeatedly merges the adjacent pair with the lowest rank (leftmost on ties). A heap of
    /// candidate merges with lazy deletion, so tie-breaking matches tokenizers' word.rs exactly.
    func mergeAll(_ symbols: inout [Int32]) {
        let count = symbols.count
        guard count > 1 else { return }
        var previous = (0..<count).map { $0 - 1 }
        var next = (0..<count).map { $0 + 1 < count ? $0 + 1 : -1 }
        var removed = [Bool](repeating: false, count: count)
        var queue = MergeQueue()
        for position in 0..<(count - 1) {
            if let merge = merges[Self.pairKey(symbols[position], symbols[position + 1])] {
                queue.push(MergeCandidate(rank: merge.rank, position: Int32(position), merged: merge.merged))
            }
        }
        while let top = queue.pop() {
            let position = Int(top.position)
            if removed[position] || next[position] == -1 { continue }
            let right = next[position]
            // A stale entry: the pair at this position changed since it was queued.
            guard let current = merges[Self.pairKey(symbols[position], symbols[right])], current.merged == top.merged else { continue }
            symbols[position] = top.merged
            removed[right] = true
            next[position] = next[right]
            if next[right] != -1 { previous[next[right]] = position }
            if previous[position] >= 0, let merge = merges[Self.pairKey(symbols[previous[position]], symbols[position])] {
                queue.push(MergeCandidate(rank: merge.rank, position: Int32(previous[position]), merged: merge.merged))
            }
            if next[position] != -1, let merge = merges[Self.pairKey(symbols[position], symbols[next[position]])] {
                queue.push(MergeCandidate(rank: merge.rank, position: top.position, merged: merge.merged))
            }
        }
        var kept = 0
        for i in 0..<count where !removed[i] {
            symbols[kept] = symbols[i]
            kept += 1
        }
        symbols.removeLast(count - kept)
    }
}

/// Symbols missing from the vocabulary, as tokenizers treats them: each becomes unk_token, a run of
/// them one unk_token with fuse_unk, and without an unk_token they are dropped.
private struct UnknownRun {
    let id: Int32?
    let fuse: Bool
    /// A run not yet emitted.
    private var pending = false

    init(id: Int32?, fuse: Bool) {
        self.id = id
        self.fuse = fuse
    }

    /// A symbol's id, or nil for one the vocabulary lacks.
    mutating func add(_ symbol: Int32?, into symbols: inout [Int32]) {
        if let symbol {
            flush(into: &symbols)
            symbols.append(symbol)
            return
        }
        guard let id else { return }
        if pending && !fuse { symbols.append(id) }
        pending = true
    }

    mutating func flush(into symbols: inout [Int32]) {
        if pending, let id { symbols.append(id) }
        pending = false
    }
}

func byteTokenName(_ byte: Int) -> String {
    let hex = String(byte, radix: 16, uppercase: true)
    return "<0x" + (hex.count == 1 ? "0" : "") + hex + ">"
}

struct MergeCandidate {
    let rank: Int32
    let position: Int32
    let merged: Int32

    func precedes(_ other: MergeCandidate) -> Bool {
        rank != other.rank ? rank < other.rank : position < other.position
    }
}

/// Binary min-heap on (rank, position).
struct MergeQueue {
    private var items: [MergeCandidate] = []

    mutating func push(_ item: MergeCandidate) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> MergeCandidate? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left].precedes(items[smallest]) { smallest = left }
            if right < items.count, items[right].precedes(items[smallest]) { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
