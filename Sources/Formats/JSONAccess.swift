/// Checked, typed access to a parsed JSON document: every wrong type or missing key becomes a
/// FormatError naming the file and the JSON path (e.g. `model.merges[12]`), never a force-cast.
package struct JSONNode: Sendable {
    package init(value: JSONValue, path: String, file: String) {
        self.value = value
        self.path = path
        self.file = file
    }

    /// Parses a whole document strictly (JSONValue); `file` names it in every later error.
    package static func parse(_ bytes: [UInt8], file: String) throws(FormatError) -> JSONNode {
        do {
            return JSONNode(value: try JSONValue.parse(bytes), path: "", file: file)
        } catch {
            throw FormatError(file: file, "is not valid JSON (\(error)); fix the file or replace it with a valid copy")
        }
    }

    /// Reads and parses a JSON file; a missing or unreadable file is a FormatError naming it.
    package static func read(path: String) throws(FormatError) -> JSONNode {
        try parse(try readFileBytes(path), file: path)
    }

    package let value: JSONValue
    /// Path from the document root, for messages ("" is the root).
    package let path: String
    /// The file the document came from, for messages.
    package let file: String

    package func failure(_ problem: String) -> FormatError {
        FormatError(file: file, entry: path.isEmpty ? nil : path, problem)
    }

    package func typeError(_ expected: String) -> FormatError {
        failure("expected \(expected), found \(value.kindName)")
    }

    package var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    package func object() throws(FormatError) -> JSONObjectNode {
        guard case .object(let members) = value else { throw typeError("an object") }
        return JSONObjectNode(members: members, path: path, file: file)
    }

    package func array() throws(FormatError) -> [JSONNode] {
        guard case .array(let elements) = value else { throw typeError("an array") }
        return elements.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    package func string() throws(FormatError) -> String {
        guard case .string(let string) = value else { throw typeError("a string") }
        return string
    }

    package func bool() throws(FormatError) -> Bool {
        guard case .bool(let bool) = value else { throw typeError("true or false") }
        return bool
    }

    package func integer() throws(FormatError) -> Int {
        if case .double(let number) = value, number == number.rounded(), abs(number) >= 0x1p63 {
            throw failure("the integer \(number) does not fit in 64 bits")
        }
        guard case .integer(let integer) = value else { throw typeError("an integer") }
        return integer
    }

    package func double() throws(FormatError) -> Double {
        switch value {
        case .integer(let integer): return Double(integer)
        case .double(let double): return double
        default: throw typeError("a number")
        }
    }

    /// A single Unicode scalar given as a one-character string (tokenizers' `char` fields).
    package func scalar() throws(FormatError) -> Unicode.Scalar {
        let text = try string()
        guard text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first else {
            throw failure("expected a single character, found \"\(text)\"")
        }
        return scalar
    }
}

package struct JSONObjectNode: Sendable {
    package let members: [(key: String, value: JSONValue)]
    package let path: String
    package let file: String

    package init(members: [(key: String, value: JSONValue)], path: String = "", file: String = "") {
        self.members = members
        self.path = path
        self.file = file
    }

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Byte-wise key lookup (see JSONValue on canonical equivalence).
    package func node(_ key: String) -> JSONNode? {
        guard let member = members.first(where: { $0.key.utf8.elementsEqual(key.utf8) }) else { return nil }
        return JSONNode(value: member.value, path: childPath(key), file: file)
    }

    /// The member, or nil when it is absent or JSON null.
    package func optional(_ key: String) -> JSONNode? {
        guard let node = node(key), !node.isNull else { return nil }
        return node
    }

    package func required(_ key: String) throws(FormatError) -> JSONNode {
        guard let node = node(key) else {
            throw FormatError(file: file, entry: path.isEmpty ? nil : path, "missing required key '\(key)'")
        }
        return node
    }

    package func string(_ key: String) throws(FormatError) -> String { try required(key).string() }
    package func integer(_ key: String) throws(FormatError) -> Int { try required(key).integer() }
    package func bool(_ key: String) throws(FormatError) -> Bool { try required(key).bool() }

    package func bool(_ key: String, default fallback: Bool) throws(FormatError) -> Bool {
        guard let node = optional(key) else { return fallback }
        return try node.bool()
    }

    /// Every member as a node, in file order.
    package var nodes: [(key: String, node: JSONNode)] {
        members.map { ($0.key, JSONNode(value: $0.value, path: childPath($0.key), file: file)) }
    }
}
