import Foundation
import Formats
import Models

/// The bytes and path of `config.json` in a Hugging Face model directory of the named layout.
func readConfigFile(directory: URL, layout: String) throws -> (bytes: [UInt8], path: String) {
    let path = directory.appendingPathComponent("config.json").path
    guard FileManager.default.fileExists(atPath: path) else {
        throw ModelConfigError("\(path): not found. A model directory needs config.json (Hugging Face \(layout) layout).")
    }
    return (try readFileBytes(path), path)
}

/// One object of config.json with transformers' defaults: a missing or null field takes the
/// caller's default, a field of the wrong type is an error naming the file and the key path.
/// Shared by every model family's config reader (LLaVA, Qwen2-VL).
struct ConfigObject {
    let node: JSONObjectNode?
    let path: String
    let file: String
    /// True when the object itself was missing (so defaults for "absent section" apply).
    var isAbsent: Bool { node == nil }
    /// The keys present in the file, in file order (null ones included).
    var keys: [String] { node?.members.map(\.key) ?? [] }

    init(_ root: JSONNode) throws {
        node = try root.object()
        path = ""
        file = root.file
    }

    private init(node: JSONObjectNode?, path: String, file: String) {
        self.node = node
        self.path = path
        self.file = file
    }

    /// The key's dotted path from the document root, as messages name it.
    func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    func isPresent(_ name: String) -> Bool { node?.optional(name) != nil }

    /// True when the key is written as JSON null, which some transformers fields read
    /// differently from an absent key.
    func isNull(_ name: String) -> Bool { node?.node(name)?.isNull ?? false }

    func object(_ name: String) throws -> ConfigObject {
        ConfigObject(node: try node?.optional(name)?.object(), path: key(name), file: file)
    }

    /// An integer; an integral number written with a fraction (`24.0`) is accepted as before.
    func optionalInt(_ name: String) throws -> Int? {
        guard let field = node?.optional(name) else { return nil }
        return try Self.integer(field)
    }

    func int(_ name: String, default fallback: Int) throws -> Int { try optionalInt(name) ?? fallback }

    /// A field transformers also accepts under a second name (a config class's attribute_map):
    /// either may be given, and both only when they agree.
    func int(_ name: String, alias: String, default fallback: Int) throws -> Int {
        let value = try optionalInt(name), aliased = try optionalInt(alias)
        if let value, let aliased, value != aliased {
            throw ModelConfigError("\(file): \(key(alias)) is \(aliased) but \(key(name)) is \(value); they name the same value. Remove one or make them agree.")
        }
        return value ?? aliased ?? fallback
    }

    /// A key older files carry next to the one transformers reads (which alone decides): when
    /// present it must say the same, so the file cannot mean two things.
    func requireAgreement(legacy: String, with name: String, value: Int) throws {
        guard let legacyValue = try optionalInt(legacy), legacyValue != value else { return }
        let given = isPresent(name) ? "" : " (transformers' default, as the key is absent)"
        throw ModelConfigError("\(file): \(key(legacy)) is \(legacyValue) but \(key(name)) is \(value)\(given); transformers reads only \(name). Make them agree or remove \(legacy).")
    }

    func optionalIntArray(_ name: String) throws -> [Int]? {
        guard let field = node?.optional(name) else { return nil }
        var values: [Int] = []
        for element in try field.array() { values.append(try Self.integer(element)) }
        return values
    }

    func optionalStringArray(_ name: String) throws -> [String]? {
        guard let field = node?.optional(name) else { return nil }
        var values: [String] = []
        for element in try field.array() { values.append(try element.string()) }
        return values
    }

    func double(_ name: String, default fallback: Double) throws -> Double {
        try node?.optional(name)?.double() ?? fallback
    }

    func bool(_ name: String, default fallback: Bool) throws -> Bool {
        try node?.optional(name)?.bool() ?? fallback
    }

    func string(_ name: String, default fallback: String) throws -> String {
        try node?.optional(name)?.string() ?? fallback
    }

    private static func integer(_ field: JSONNode) throws -> Int {
        if case .double(let number) = field.value, number == number.rounded(), abs(number) < 0x1p53 { return Int(number) }
        return try field.integer()
    }
}
