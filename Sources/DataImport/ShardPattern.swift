import Datasets
import Foundation

/// Webdataset shard lists: paths with brace groups, expanded by Discern itself (no shell needed)
/// the way the `braceexpand` package that webdataset uses does for these forms:
/// `{00000..00127}` is a numeric range (zero-padded to the wider bound when either bound has a
/// leading zero, as written), `{a,b,c}` a list of alternatives; several groups in one pattern
/// multiply, the leftmost varying slowest. Nested groups are not supported.
package enum ShardPattern {
    /// At most this many paths from one pattern: a bigger range is more likely a typo.
    package static let maxPaths = 1_000_000

    /// The paths `pattern` names, in order; throws for a malformed group.
    package static func expand(_ pattern: String) throws -> [String] {
        var paths = [""]
        var rest = Substring(pattern)
        while !rest.isEmpty {
            guard let open = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) else {
                paths = paths.map { $0 + rest }
                break
            }
            guard rest[open] == "{" else { throw problem(pattern, "a '}' without its '{'") }
            let literal = rest[..<open]
            let body = rest[rest.index(after: open)...]
            guard let close = body.firstIndex(where: { $0 == "{" || $0 == "}" }), body[close] == "}" else {
                throw problem(pattern, "a '{' without its '}' (groups cannot be nested)")
            }
            let choices = try alternatives(String(body[..<close]), pattern: pattern)
            guard paths.count * choices.count <= maxPaths else {
                throw problem(pattern, "names more than \(maxPaths) shards; split the list")
            }
            paths = paths.flatMap { prefix in choices.map { prefix + literal + $0 } }
            rest = body[body.index(after: close)...]
        }
        return paths
    }

    /// Every pattern expanded, in order; throws when a path is named twice.
    package static func expandAll(_ patterns: [String]) throws -> [String] {
        var seen = Set<String>()
        var paths: [String] = []
        for pattern in patterns {
            for path in try expand(pattern) {
                guard seen.insert(path).inserted else {
                    throw DatasetError(file: path, "is listed twice (pattern '\(pattern)'); each shard may be imported once")
                }
                paths.append(path)
            }
        }
        return paths
    }

    /// Throws, naming the first missing shards and how many are missing, unless every path is a
    /// readable regular file: checked before any work starts.
    package static func requireShardsExist(_ paths: [String]) throws {
        var missing: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                missing.append(path)
            } else if isDirectory.boolValue {
                throw DatasetError(file: path, "is a folder, not a tar shard; name the .tar files (e.g. 'DIR/{00000..00009}.tar')")
            } else if !FileManager.default.isReadableFile(atPath: path) {
                throw DatasetError(file: path, "cannot be read; check its permissions")
            }
        }
        guard let first = missing.first else { return }
        let shown = missing.prefix(5).joined(separator: ", ")
        throw DatasetError(file: first, "does not exist: \(missing.count) of \(paths.count) shards are missing (\(shown)"
                           + "\(missing.count > 5 ? ", ..." : "")); check the pattern's range and the working directory "
                           + "(\(FileManager.default.currentDirectoryPath))")
    }

    private static func alternatives(_ body: String, pattern: String) throws -> [String] {
        if body.contains(",") {
            let items = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if items.contains("") { throw problem(pattern, "an empty alternative in '{\(body)}'") }
            return items
        }
        let bounds = body.components(separatedBy: "..")
        guard bounds.count == 2 else {
            throw problem(pattern, "'{\(body)}' is neither a range like {00000..00127} nor a list like {a,b}")
        }
        guard let low = Int(bounds[0]), let high = Int(bounds[1]), bounds.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) else {
            throw problem(pattern, "the range '{\(body)}' needs two non-negative whole numbers, like {00000..00127}")
        }
        guard low <= high else {
            throw problem(pattern, "the range '{\(body)}' runs backwards; write the smaller bound first")
        }
        guard high - low < maxPaths else { throw problem(pattern, "the range '{\(body)}' names more than \(maxPaths) shards") }
        let padded = bounds.contains { $0.count > 1 && $0.hasPrefix("0") }
        let width = padded ? bounds.map(\.count).max()! : 0
        return (low...high).map { value in
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
    }

    private static func problem(_ pattern: String, _ text: String) -> DatasetError {
        DatasetError(file: pattern, "bad shard pattern: \(text)")
    }
}
