import Foundation

/// One rule for `~` in every path the configuration holds, from the YAML file, `--set` or a
/// path flag: `~` and `~/x` are the home directory ($HOME, else the passwd entry), the way a
/// shell would expand them; `~user` is refused (the shell's meaning differs between machines and
/// ranks); a YAML null is an error (ResolvedConfig.value). Without this, a run split its files between
/// `./~/` and the home directory.
package enum ConfigPaths {
    /// The path with a leading `~` expanded; `place` names the file and line or the flag.
    package static func expand(_ text: String, key: String, at place: String) throws -> String {
        // "" is the default of `model` and `data`: not given (the command says what is missing).
        guard text.hasPrefix("~") else { return text }
        guard text == "~" || text.hasPrefix("~/") else {
            throw ConfigError("\(place): \(key) is \(text.debugDescription); `~user` paths are not supported, write the full path.")
        }
        guard let home = homeDirectory() else {
            throw ConfigError("\(place): \(key) is \(text.debugDescription) but the home directory is unknown ($HOME is not set); write the full path.")
        }
        return home + text.dropFirst()
    }

    static func homeDirectory() -> String? {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty {
            return home.hasSuffix("/") && home.count > 1 ? String(home.dropLast()) : home
        }
        let home = NSHomeDirectory()
        return home.isEmpty ? nil : home
    }

    /// YAML's spellings of null for a plain (unquoted) scalar.
    static func isYAMLNull(_ text: String, isQuoted: Bool) -> Bool {
        !isQuoted && ["", "~", "null", "Null", "NULL"].contains(text)
    }
}

extension ResolvedConfig {
    /// Sets a field from a command-line flag (`--run-dir`, `--steps`), checked like `--set`:
    /// the field's type and range, and for paths the same `~` rule as the file.
    mutating func set(_ path: String, text: String, flag: String) throws {
        guard let field = ConfigSchema.byPath[path] else { preconditionFailure("no config field \(path)") }
        set(path, try Self.value(text, isQuoted: false, for: field, at: flag))
    }

    /// The fields `discern train` also takes as flags, by flag.
    package enum Flag: String, CaseIterable, Sendable {
        case model = "--model", data = "--data", runDirectory = "--run-dir", steps = "--steps", globalBatch = "--global-batch"

        var path: String {
            switch self {
            case .model: return "model"
            case .data: return "data"
            case .runDirectory: return "run_dir"
            case .steps: return "steps"
            case .globalBatch: return "global_batch"
            }
        }
    }

    package mutating func set(_ flag: Flag, text: String) throws { try set(flag.path, text: text, flag: flag.rawValue) }
}
