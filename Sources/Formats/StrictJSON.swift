import Foundation

/// Typed decoding of a JSON file through the strict parser. JSONDecoder alone accepts duplicate
/// keys (keeping one), and its errors do not name the file; here the bytes are first checked by
/// JSONValue (RFC 8259, bounded depth, line and column), then decoded, and a decoding problem is a
/// FormatError naming the file and the key path. For readers built on Codable (dataset.json,
/// eval reports, metrics lines).
package enum StrictJSON {
    package static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String) throws(FormatError) -> T {
        _ = try JSONNode.parse(bytes, file: file)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw FormatError(file: file, entry: keyPath(of: error), reason(of: error))
        } catch {
            throw FormatError(file: file, "cannot be decoded: \(error)")
        }
    }

    /// Reads `path` and decodes it; a missing or unreadable file is an error naming the path.
    package static func decode<T: Decodable>(_ type: T.Type, path: String) throws(FormatError) -> T {
        try decode(type, from: try readFileBytes(path), file: path)
    }

    static func keyPath(of error: DecodingError) -> String? {
        let path: [CodingKey]
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): path = context.codingPath
        case .keyNotFound(_, let context): path = context.codingPath
        @unknown default: return nil
        }
        guard !path.isEmpty else { return nil }
        return path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }

    static func reason(of error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, _): return "has the wrong type (expected \(type))"
        case .valueNotFound(let type, _): return "is null or missing (expected \(type))"
        case .keyNotFound(let key, _): return "missing required key '\(key.stringValue)'"
        case .dataCorrupted(let context): return "has an invalid value: \(context.debugDescription)"
        @unknown default: return "cannot be decoded"
        }
    }
}
