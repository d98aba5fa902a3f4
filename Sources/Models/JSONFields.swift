import Foundation

/// Checked access to one JSON object: a field of the wrong type is an error naming the key,
/// a missing field takes the caller's default.
struct JSONFields {
    let raw: [String: Any]
    let source: String
    let path: String
    /// True when the object itself was missing (so defaults for "absent section" apply).
    let isAbsent: Bool

    init(data: Data, source: String) throws {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelConfigError("\(source): not valid JSON: \(error.localizedDescription)")
        }
        guard let object = value as? [String: Any] else { throw ModelConfigError("\(source): the top level must be a JSON object.") }
        self.init(raw: object, source: source, path: "", isAbsent: false)
    }

    init(raw: [String: Any], source: String, path: String, isAbsent: Bool) {
        self.raw = raw
        self.source = source
        self.path = path
        self.isAbsent = isAbsent
    }

    private func key(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    private func wrongType(_ name: String, _ expected: String, _ value: Any) -> ModelConfigError {
        ModelConfigError("\(source): \(key(name)) should be \(expected), found \(value).")
    }

    private func present(_ name: String) -> Any? {
        guard let value = raw[name], !(value is NSNull) else { return nil }
        return value
    }

    func object(_ name: String) throws -> JSONFields {
        guard let value = present(name) else { return JSONFields(raw: [:], source: source, path: key(name), isAbsent: true) }
        guard let object = value as? [String: Any] else { throw wrongType(name, "an object", value) }
        return JSONFields(raw: object, source: source, path: key(name), isAbsent: false)
    }

    func optionalInt(_ name: String) throws -> Int? {
        guard let value = present(name) else { return nil }
        // JSONSerialization gives NSNumber for both ints and booleans; reject booleans and fractions.
        guard let number = value as? NSNumber, !isBoolean(number), number.doubleValue == number.doubleValue.rounded()
        else { throw wrongType(name, "an integer", value) }
        return number.intValue
    }

    func int(_ name: String, default fallback: Int) throws -> Int { try optionalInt(name) ?? fallback }

    func double(_ name: String, default fallback: Double) throws -> Double {
        guard let value = present(name) else { return fallback }
        guard let number = value as? NSNumber, !isBoolean(number) else { throw wrongType(name, "a number", value) }
        return number.doubleValue
    }

    func bool(_ name: String, default fallback: Bool) throws -> Bool {
        guard let value = present(name) else { return fallback }
        guard let number = value as? NSNumber, isBoolean(number) else { throw wrongType(name, "true or false", value) }
        return number.boolValue
    }

    func string(_ name: String, default fallback: String) throws -> String {
        guard let value = present(name) else { return fallback }
        guard let string = value as? String else { throw wrongType(name, "a string", value) }
        return string
    }

    private func isBoolean(_ number: NSNumber) -> Bool {
        #if canImport(Darwin)
        return CFGetTypeID(number) == CFBooleanGetTypeID()
        #else
        return type(of: number) == type(of: NSNumber(value: true))
        #endif
    }
}
