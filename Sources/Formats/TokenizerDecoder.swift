/// The `decoder` stage of tokenizer.json: turns token pieces back into text. Each stage maps a
/// list of strings to a list of strings, exactly like tokenizers' `decode_chain`.
indirect enum TokenizerDecoder: Sendable {
    /// Replace a literal in every piece (legacy Llama: "▁" -> " ").
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    /// Runs of `<0xXX>` pieces become their UTF-8 text (one U+FFFD per byte if invalid).
    case byteFallback
    /// Join all pieces into one.
    case fuse
    /// Remove up to `start` leading and `stop` trailing `content` characters from each piece.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// "▁" -> " ", except that the first piece loses its "▁"s (unless the scheme is never).
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    /// Byte-level pieces back to their bytes, read as UTF-8 (GPT-2, Qwen2).
    case byteLevel
    case sequence([TokenizerDecoder])

    init(_ node: JSONNode) throws(FormatError) {
        let object = try node.object()
        let type = try object.string("type")
        switch type {
        case "Replace":
            let (pattern, content) = try literalReplacement(object)
            self = .replace(pattern: pattern, content: content)
        case "ByteFallback":
            self = .byteFallback
        case "Fuse":
            self = .fuse
        case "Strip":
            let start = try object.integer("start"), stop = try object.integer("stop")
            guard start >= 0, stop >= 0 else { throw node.failure("Strip start and stop must be non-negative") }
            self = .strip(content: try object.required("content").scalar(), start: start, stop: stop)
        case "Metaspace":
            self = .metaspace(replacement: try object.required("replacement").scalar(), prependScheme: try metaspacePrependScheme(object))
        case "ByteLevel":
            // Its add_prefix_space / trim_offsets / use_regex act on encoding only; tokenizers' decoder ignores them too.
            self = .byteLevel
        case "Sequence":
            self = .sequence(try object.required("decoders").array().map { (child) throws(FormatError) in try TokenizerDecoder(child) })
        default:
            throw FormatError(file: node.file, entry: "\(node.path).type",
                              "decoder type '\(type)' is not supported (supported: Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel, Sequence)")
        }
    }

    func decode(_ pieces: [String]) -> [String] {
        switch self {
        case .replace(let pattern, let content):
            return pieces.map { string(replacingOccurrences(in: Array($0.unicodeScalars), of: pattern, with: content)) }
        case .byteFallback:
            return decodeByteFallback(pieces)
        case .fuse:
            return [pieces.joined()]
        case .strip(let content, let start, let stop):
            return pieces.map { piece in
                let scalars = Array(piece.unicodeScalars)
                var low = 0
                while low < min(start, scalars.count), scalars[low] == content { low += 1 }
                var high = scalars.count
                while scalars.count - high < stop, high > low, scalars[high - 1] == content { high -= 1 }
                return string(scalars[low..<high])
            }
        case .metaspace(let replacement, let prependScheme):
            return pieces.enumerated().map { index, piece in
                var view = String.UnicodeScalarView()
                for scalar in piece.unicodeScalars {
                    if scalar != replacement {
                        view.append(scalar)
                    } else if index != 0 || prependScheme == .never {
                        view.append(" ")
                    }
                }
                return String(view)
            }
        case .byteLevel:
            return decodeByteLevel(pieces)
        case .sequence(let decoders):
            return decoders.reduce(pieces) { $1.decode($0) }
        }
    }
}

/// Byte pieces are exactly six characters `<0xXX>`; a run of them is joined and read as UTF-8.
private func decodeByteFallback(_ pieces: [String]) -> [String] {
    var result: [String] = []
    var pendingBytes: [UInt8] = []
    func flush() {
        guard !pendingBytes.isEmpty else { return }
        if let text = String(validating: pendingBytes, as: UTF8.self) {
            result.append(text)
        } else {
            result.append(contentsOf: repeatElement("\u{FFFD}", count: pendingBytes.count))
        }
        pendingBytes.removeAll()
    }
    for piece in pieces {
        if let byte = byteOfBytePiece(piece) {
            pendingBytes.append(byte)
        } else {
            flush()
            result.append(piece)
        }
    }
    flush()
    return result
}

private func byteOfBytePiece(_ piece: String) -> UInt8? {
    let utf8 = Array(piece.utf8)
    guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"), utf8[2] == UInt8(ascii: "x"),
          utf8[5] == UInt8(ascii: ">")
    else { return nil }
    guard let high = hexDigitValue(utf8[3]), let low = hexDigitValue(utf8[4]) else { return nil }
    return high << 4 | low
}

private func hexDigitValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}

func string<S: Sequence>(_ scalars: S) -> String where S.Element == Unicode.Scalar {
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars)
    return String(view)
}
