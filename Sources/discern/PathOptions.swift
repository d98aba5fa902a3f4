import ArgumentParser
import Configuration

/// The `transform` of every path flag: `~` and `~/x` expand to the home directory as they do in
/// configuration files (ConfigPaths), so a quoted `'~/x'` does not become a folder named `~`.
func expandedPath(_ text: String) throws -> String {
    do {
        return try ConfigPaths.expand(text, key: "the path", at: "command line")
    } catch {
        throw ValidationError("\(error)")
    }
}
