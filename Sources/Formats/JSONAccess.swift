/// Checked, typed access to a parsed JSON document: every wrong type or missing key becomes a
/// FormatError naming the file and the JSON path (e.g. `model.merges[12]`), never a force-cast.
struct JSONNode {
    let value: JSONValue
    /// Path from the document root, for messages ("" is the root).
    let path: String
    /// The file the document came from, for messages.
    let file: String

    func failure(_ problem: String) -> FormatError {
        FormatError(file: file, entry: path.isEmpty ? nil : path, problem)
    }

    func typeError(_ expected: String) -> FormatError {
        failure("expected \(expected), found \(value.kindName)")
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    func object() throws(FormatError) -> JSONObjectNode {
        guard case .object(let members) = value else { throw typeError("an object") }
        return JSONObjectNode(members: members, path: path, file: file)
    }

    func array() throws(FormatError) -> [JSONNode] {
        guard case .array(let elements) = value else { throw typeError("an array") }
        return elements.enumerated().map { JSONNode(value: $1, path: "\(path)[\($0)]", file: file) }
    }

    func string() throws(FormatError) -> String {
        guard case .string(let string) = value else { throw typeError("a string") }
        return string
    }

    func bool() throws(FormatError) -> Bool {
        guard case .bool(let bool) = value else { throw typeError("true or false") }
        return bool
    }

    func integer() throws(FormatError) -> Int {
        guard case .integer(let integer) = value else { throw typeError("an integer") }
        return integer
    }

    func double() throws(FormatError) -> Double {
        switch value {
        case .integer(let integer): return Double(integer)
        case .double(let double): return double
        default: throw typeError("a number")
        }
    }

    /// A single Unicode scalar given as a one-character string (tokenizers' `char` fields).
    func scalar() throws(FormatError) -> Unicode.Scalar {
        let text = try string()
        guard text.unicodeScalars.count == 1, let scalar = text.unicodeScalars.first else {
            throw failure("expected a single character, found \"\(text)\"")
        }
        return scalar
    }
}

struct JSONObjectNode {
    let members: [(key: String, value: JSONValue)]
    let path: String
    let file: String

    private func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Byte-wise key lookup (see JSONValue on canonical equivalence).
    func node(_ key: String) -> JSONNode? {
        guard let member = members.first(where: { $0.key.utf8.elementsEqual(key.utf8) }) else { return nil }
        return JSONNode(value: member.value, path: childPath(key), file: file)
    }

    /// The member, or nil when it is absent or JSON null.
    func optional(_ key: String) -> JSONNode? {
        guard let node = node(key), !node.isNull else { return nil }
        return node
    }

    func required(_ key: String) throws(FormatError) -> JSONNode {
        guard let node = node(key) else {
            throw FormatError(file: file, entry: path.isEmpty ? nil : path, "missing required key '\(key)'")
        }
        return node
    }

    func string(_ key: String) throws(FormatError) -> String { try required(key).string() }
    func integer(_ key: String) throws(FormatError) -> Int { try required(key).integer() }
    func bool(_ key: String) throws(FormatError) -> Bool { try required(key).bool() }

    func bool(_ key: String, default fallback: Bool) throws(FormatError) -> Bool {
        guard let node = optional(key) else { return fallback }
        return try node.bool()
    }

    /// Every member as a node, in file order.
    var nodes: [(key: String, node: JSONNode)] {
        members.map { ($0.key, JSONNode(value: $0.value, path: childPath($0.key), file: file)) }
    }
}
