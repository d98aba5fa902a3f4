/// GPT-2's byte-to-unicode alphabet: byte-level BPE spells every byte as one printable scalar, so a
/// vocabulary of strings holds any byte sequence. The bytes `!`...`~`, `¡`...`¬` and `®`...`ÿ` stand
/// for themselves; the other 68 take U+0100 onwards, in byte order (space is U+0120 `Ġ`).
package enum ByteLevelAlphabet {
    package static let scalarOfByte: [Unicode.Scalar] = {
        var next: UInt32 = 0x100
        return (0...255).map { (byte: UInt32) -> Unicode.Scalar in
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable { return Unicode.Scalar(byte)! }
            defer { next += 1 }
            return Unicode.Scalar(next)!
        }
    }()

    /// Scalar value -> byte, -1 for values inside the table's range that are not in the alphabet.
    private static let byteOfScalarValue: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in scalarOfByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    static func byte(of scalar: Unicode.Scalar) -> UInt8? {
        guard scalar.value < byteOfScalarValue.count, byteOfScalarValue[Int(scalar.value)] >= 0 else { return nil }
        return UInt8(byteOfScalarValue[Int(scalar.value)])
    }
}

/// The ByteLevel pre-tokenizer with the Split stages that come before it in a Sequence (Qwen2), or
/// alone with its own GPT-2 regex (`use_regex`). Its words are UTF-8 bytes: the BPE model reads each
/// byte as its alphabet scalar.
struct ByteLevelPreTokenizer: Sendable {
    let splits: [SplitPattern]
    /// Put a space in front of every piece that does not start with one.
    let addPrefixSpace: Bool
    /// GPT-2's pattern, applied after the prefix space, when `use_regex` is true.
    let ownPattern: SplitPattern?

    init(splits: [SplitPattern], _ object: JSONObjectNode) throws(FormatError) {
        self.splits = splits
        addPrefixSpace = try object.bool("add_prefix_space")
        ownPattern = try object.bool("use_regex", default: true) ? .gpt2 : nil  // tokenizers' default
        // Required by tokenizers too; it changes offsets only, which Discern does not report.
        _ = try object.bool("trim_offsets")
    }

    /// The words of one piece of normalized text, as UTF-8 bytes.
    func words(_ text: [Unicode.Scalar]) -> [[UInt8]] {
        var ranges = [0..<text.count]
        for split in splits { ranges = ranges.flatMap { split.pieces(of: text, in: $0) } }
        var words: [[UInt8]] = []
        for range in ranges where !range.isEmpty {
            if addPrefixSpace && text[range.lowerBound] != " " {
                let prefixed: [Unicode.Scalar] = [" "] + text[range]
                appendWords(prefixed, 0..<prefixed.count, into: &words)
            } else {
                appendWords(text, range, into: &words)
            }
        }
        return words
    }

    private func appendWords(_ text: [Unicode.Scalar], _ range: Range<Int>, into words: inout [[UInt8]]) {
        guard let ownPattern else {
            words.append(utf8Bytes(text[range]))
            return
        }
        for piece in ownPattern.pieces(of: text, in: range) { words.append(utf8Bytes(text[piece])) }
    }
}

private func utf8Bytes(_ scalars: ArraySlice<Unicode.Scalar>) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(scalars.count)
    for scalar in scalars { UTF8.encode(scalar) { bytes.append($0) } }
    return bytes
}

/// The ByteLevel decoder: every piece back to its bytes (a piece with a scalar outside the alphabet,
/// such as an added token, is taken as its own UTF-8), all joined and read as UTF-8, each invalid
/// sequence becoming U+FFFD (Rust's `from_utf8_lossy`).
func decodeByteLevel(_ pieces: [String]) -> [String] {
    var bytes: [UInt8] = []
    for piece in pieces {
        let pieceStart = bytes.count
        for scalar in piece.unicodeScalars {
            guard let byte = ByteLevelAlphabet.byte(of: scalar) else {
                bytes.removeSubrange(pieceStart...)
                bytes.append(contentsOf: piece.utf8)
                break
            }
            bytes.append(byte)
        }
    }
    return [String(decoding: bytes, as: UTF8.self)]
}
