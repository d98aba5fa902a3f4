import Formats
import Foundation
import Yams

package struct ConfigError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// A resolved configuration: every field of the schema with its value and where it came from.
package struct ResolvedConfig: Sendable, Equatable {
    private(set) var values: [String: ConfigValue]

    /// Defaults only.
    package init() {
        values = Dictionary(uniqueKeysWithValues: ConfigSchema.fields.map { ($0.path, $0.defaultValue) })
    }

    /// Reads a YAML file strictly: every key must be a schema field (an unknown one is an error
    /// naming the closest valid key), every value must have the field's type.
    package static func load(file: String) throws -> ResolvedConfig {
        let file = try ConfigPaths.expand(file, key: "the configuration file", at: "--config")
        guard FileManager.default.fileExists(atPath: file) else {
            throw ConfigError("\(file): config file not found. The configs/ folder has examples (configs/tiny.yaml).")
        }
        // Read as bytes: Foundation's "The file isn't in the correct format" names neither the
        // file nor the problem.
        let bytes: [UInt8]
        do { bytes = try readFileBytes(file) } catch { throw ConfigError("\(error)") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError("\(file): is not UTF-8 text; save the configuration as UTF-8.")
        }
        return try parse(yaml: text, source: file)
    }

    /// `base` gives the keys the YAML leaves out (the defaults unless told otherwise).
    package static func parse(yaml: String, source: String, over base: ResolvedConfig = ResolvedConfig()) throws -> ResolvedConfig {
        var config = base
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw ConfigError("\(source): not valid YAML: \(error)")
        }
        guard let root else { return config }  // an empty file means all defaults
        guard let mapping = root.mapping else {
            throw ConfigError("\(source): the top level must be a mapping of keys to values.")
        }
        try config.apply(mapping: mapping, prefix: "", source: source)
        return config
    }

    mutating func apply(mapping: Node.Mapping, prefix: String, source: String) throws {
        for (keyNode, valueNode) in mapping {
            guard let key = keyNode.string else { throw ConfigError("\(source):\(line(keyNode)): keys must be strings.") }
            let path = prefix.isEmpty ? key : prefix + "." + key
            if let nested = valueNode.mapping {
                guard ConfigSchema.fields.contains(where: { $0.path.hasPrefix(path + ".") }) else {
                    throw unknownKey(path, source: source, node: keyNode)
                }
                try apply(mapping: nested, prefix: path, source: source)
                continue
            }
            guard let field = ConfigSchema.byPath[path] else { throw unknownKey(path, source: source, node: keyNode) }
            guard let scalar = valueNode.scalar else {
                throw ConfigError("\(source):\(line(valueNode)): \(path) should be a single \(field.kind.rawValue) value, found a list or mapping.")
            }
            values[path] = try Self.value(scalar.string, isQuoted: scalar.style != .plain, fromYAML: true, for: field,
                                          at: "\(source):\(line(valueNode))")
        }
    }

    /// Applies one `--set a.b=value` override.
    package mutating func set(_ assignment: String) throws {
        guard let equals = assignment.firstIndex(of: "=") else {
            throw ConfigError("--set \(assignment): expected KEY=VALUE, e.g. --set optimizer.lr=3e-4")
        }
        let path = String(assignment[..<equals]).trimmingCharacters(in: .whitespaces)
        let text = String(assignment[assignment.index(after: equals)...])
        guard let field = ConfigSchema.byPath[path] else { throw unknownKey(path, source: "--set", node: nil) }
        values[path] = try Self.value(text, isQuoted: false, for: field, at: "--set")
    }

    package mutating func set(_ path: String, _ value: ConfigValue) {
        precondition(ConfigSchema.byPath[path] != nil, "no config field \(path)")
        values[path] = value
    }

    /// `fromYAML`: the text is a YAML scalar, where a plain `~` or `null` means null.
    static func value(_ text: String, isQuoted: Bool, fromYAML: Bool = false, for field: ConfigField, at place: String) throws -> ConfigValue {
        func wrong() -> ConfigError {
            ConfigError("\(place): \(field.path) should be \(article(field.kind)), found \(text.debugDescription).")
        }
        func inRange(_ number: Double) throws {
            guard let range = field.range, !range.contains(number) else { return }
            throw ConfigError("\(place): \(field.path): \(text) is out of range; it must be \(range).")
        }
        switch field.kind {
        case .int:
            guard !isQuoted, let v = Int(text.replacingOccurrences(of: "_", with: "")) else { throw wrong() }
            try inRange(Double(v))
            return .int(v)
        case .double:
            guard !isQuoted, let v = Double(text.replacingOccurrences(of: "_", with: "")), v.isFinite else { throw wrong() }
            try inRange(v)
            return .double(v)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on": return .bool(true)
            case "false", "no", "off": return .bool(false)
            default: throw wrong()
            }
        case .path:
            if fromYAML && ConfigPaths.isYAMLNull(text, isQuoted: isQuoted) {
                throw ConfigError("\(place): \(field.path) is null (YAML reads `~`, `null` and an empty value as null); write the path (`~/runs/a` is a path; write \"~\" for the home directory itself).")
            }
            return .string(try ConfigPaths.expand(text, key: field.path, at: place))
        case .string:
            if !field.choices.isEmpty && !field.choices.contains(text) {
                throw ConfigError("\(place): \(field.path) must be one of \(field.choices.joined(separator: ", ")); found \(text.debugDescription).")
            }
            return .string(text)
        }
    }

    static func article(_ kind: ConfigField.Kind) -> String {
        switch kind {
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "true or false"
        case .string: return "a string"
        case .path: return "a path"
        }
    }

    func line(_ node: Node) -> String { node.mark.map { String($0.line) } ?? "?" }

    func unknownKey(_ path: String, source: String, node: Node?) -> ConfigError {
        let place = node.map { "\(source):\(line($0))" } ?? source
        let candidates = ConfigSchema.fields.map(\.path)
        let closest = candidates.min { editDistance($0, path) < editDistance($1, path) } ?? ""
        return ConfigError("\(place): unknown key '\(path)'. Did you mean '\(closest)'? (docs/config.md lists every key)")
    }

    // Access by path, for this module only (the typed sections and the rules); the schema
    // guarantees each path exists with its kind.
    func int(_ path: String) -> Int { if case .int(let v) = values[path] { return v }; preconditionFailure("\(path) is not an int") }
    func double(_ path: String) -> Double {
        switch values[path] {
        case .double(let v): return v
        case .int(let v): return Double(v)
        default: preconditionFailure("\(path) is not a number")
        }
    }
    func bool(_ path: String) -> Bool { if case .bool(let v) = values[path] { return v }; preconditionFailure("\(path) is not a bool") }
    func string(_ path: String) -> String { if case .string(let v) = values[path] { return v }; preconditionFailure("\(path) is not a string") }

    /// The whole configuration as YAML, every field, in schema order (stored in checkpoints).
    package var yaml: String {
        var lines: [String] = []
        var section = ""
        for field in ConfigSchema.fields {
            let parts = field.path.split(separator: ".", maxSplits: 1).map(String.init)
            let value = values[field.path] ?? field.defaultValue
            let rendered: String
            if case .string(let s) = value { rendered = Self.yamlString(s) } else { rendered = value.description }
            if parts.count == 2 {
                if parts[0] != section { lines.append("\(parts[0]):"); section = parts[0] }
                lines.append("  \(parts[1]): \(rendered)")
            } else {
                section = ""
                lines.append("\(field.path): \(rendered)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    package static func yamlString(_ s: String) -> String {
        // Double-quoted YAML escapes backslashes, quotes and newlines; plain style is safe only
        // for simple words and paths.
        let simple = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) }
        if simple { return s }
        var escaped = ""
        for c in s {
            switch c {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default: escaped.append(c)
            }
        }
        return "\"\(escaped)\""
    }
}

/// Levenshtein distance, for "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count), current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...max(b.count, 1) where j <= b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
