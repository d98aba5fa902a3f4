import Foundation
import HDF5Files
import Kernels

/// The ways a case damages its copy of the inputs. Positions in a file come from a seeded
/// generator, so every run damages the same bytes.
enum Mutate {
    /// Sets a (nested) key of a JSON object file, e.g. ["text_config", "num_hidden_layers"].
    static func json(_ file: URL, _ keys: [String], _ value: Any) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        setValue(&object, keys[...], value)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: file)
    }

    private static func setValue(_ object: inout [String: Any], _ keys: ArraySlice<String>, _ value: Any) {
        guard keys.count > 1 else { object[keys.first!] = value; return }
        var inner = object[keys.first!] as? [String: Any] ?? [:]
        setValue(&inner, keys.dropFirst(), value)
        object[keys.first!] = inner
    }

    /// Sets a key to raw JSON text (NaN, 1e999, a bare word): what JSONSerialization cannot write.
    static func rawJSON(_ file: URL, _ keys: [String], _ text: String) throws {
        let marker = "MUTATION-\(UUID().uuidString)"
        try json(file, keys, marker)
        try replace(file, "\"\(marker)\"", with: text)
    }

    /// Replaces the first occurrence of `text`; failing when it is absent (a mutation that
    /// changes nothing would make its case meaningless).
    static func replace(_ file: URL, _ text: String, with replacement: String) throws {
        let content = try String(contentsOf: file, encoding: .utf8)
        guard let range = content.range(of: text) else { throw MutationError("'\(text)' not found in \(file.path)") }
        try content.replacingCharacters(in: range, with: replacement).write(to: file, atomically: true, encoding: .utf8)
    }

    /// A second copy of a top-level key with another value, right after the opening brace.
    static func duplicateKey(_ file: URL, _ key: String, _ valueText: String) throws {
        try replace(file, "{", with: "{\"\(key)\": \(valueText), ")
    }

    /// A comma before the final closing brace.
    static func trailingComma(_ file: URL) throws {
        var text = try String(contentsOf: file, encoding: .utf8)
        guard let last = text.lastIndex(of: "}") else { throw MutationError("no '}' in \(file.path)") }
        text.insert(",", at: last)
        try text.write(to: file, atomically: true, encoding: .utf8)
    }

    /// Keeps the first `fraction` of the file.
    static func truncate(_ file: URL, keeping fraction: Double) throws {
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: file)
    }

    /// Flips one seeded bit in the middle half of the file (past headers, before trailers).
    static func flipBit(_ file: URL, seed: UInt64) throws {
        var bytes = try Data(contentsOf: file)
        var random = Xoshiro256(seed: seed)
        let offset = bytes.count / 4 + Int(random.next() % UInt64(max(1, bytes.count / 2)))
        bytes[offset] ^= UInt8(1) << (random.next() % 8)
        try bytes.write(to: file)
    }

    /// Zeroes one seeded, aligned 4 KiB page (a lost disk block); never the first (superblock).
    static func zeroPage(_ file: URL, seed: UInt64) throws {
        var bytes = try Data(contentsOf: file)
        let pages = bytes.count / 4096
        guard pages >= 2 else { throw MutationError("\(file.path) has fewer than two 4 KiB pages") }
        var random = Xoshiro256(seed: seed)
        let page = 1 + Int(random.next() % UInt64(pages - 1))
        bytes.replaceSubrange(page * 4096..<(page + 1) * 4096, with: Data(count: 4096))
        try bytes.write(to: file)
    }

    /// Overwrites the first values of an existing HDF5 dataset in place (a real HDF5 write).
    static func hdf5Values<T: H5NumericElement>(_ file: URL, _ dataset: String, _ values: [T]) throws {
        let h5 = try H5File.open(file.path, mode: .readWrite)
        try h5.openDataset(dataset).writeRows(values, startingAt: 0)
        try h5.close()
    }

    /// Sets every value of an existing dataset to `value`.
    static func hdf5Fill<T: H5NumericElement>(_ file: URL, _ dataset: String, _ value: T) throws {
        let h5 = try H5File.open(file.path, mode: .readWrite)
        let target = try h5.openDataset(dataset)
        try target.writeRows([T](repeating: value, count: target.shape.reduce(1, *)), startingAt: 0)
        try h5.close()
    }

    static func hdf5Attribute(_ file: URL, _ name: String, _ value: H5AttributeValue) throws {
        let h5 = try H5File.open(file.path, mode: .readWrite)
        try h5.setAttribute(name, value)
        try h5.close()
    }

    /// Rewrites an HDF5 file with float and string datasets and root attributes copied, except
    /// that `replace` may give a float dataset new values and shape and `strings` a string
    /// dataset new text (nil keeps it).
    static func hdf5Rewrite(_ file: URL, strings: (String, [String]) -> [String]? = { _, _ in nil },
                            replace: (String, [Float], [Int]) -> ([Float], [Int])?) throws {
        let source = try H5File.open(file.path, mode: .readOnly)
        let rewritten = file.deletingLastPathComponent().appendingPathComponent("rewritten-" + file.lastPathComponent)
        // With the 512-byte user block a Discern file carries, so `resealCheckpoint` can seal it.
        let target = try H5File.create(rewritten.path, mode: .truncate, userBlock: true)
        try copyGroup(source, "", into: target, strings: strings, replace: replace)
        for name in try source.attributeNames() { try target.setAttribute(name, source.attribute(name)) }
        try source.close()
        try target.close()
        try FileManager.default.removeItem(at: file)
        try FileManager.default.moveItem(at: rewritten, to: file)
    }

    /// Makes a checkpoint mutated by the functions above pass the integrity checks again (every
    /// tensor's crc32 attribute, then the file's seal), so the case reaches the check it targets
    /// (a short moment, a NaN, a bad attribute) instead of the checksum.
    static func resealCheckpoint(_ file: URL) throws {
        let h5 = try H5File.open(file.path, mode: .readWrite)
        for group in ["/parameters", "/optimizer/first_moment", "/optimizer/second_moment"] where try h5.exists(group) {
            for name in try h5.openGroup(group).memberNames() {
                let values = try h5.read("\(group)/\(name)", as: Float.self).values
                let crc = values.withUnsafeBytes { FileSeal.checksum($0) }
                try h5.openDataset("\(group)/\(name)").setAttribute("crc32", .int64(Int64(crc)))
            }
        }
        try h5.close()
        let handle = try FileHandle(forUpdating: file)
        try handle.write(contentsOf: Data(count: FileSeal.blockSize))   // the old seal line goes
        try handle.close()
        try FileSeal.seal(file.path)
    }

    private static func copyGroup(_ source: H5File, _ path: String, into target: H5File,
                                  strings: (String, [String]) -> [String]?,
                                  replace: (String, [Float], [Int]) -> ([Float], [Int])?) throws {
        let group = path.isEmpty ? source : try source.openGroup(path)
        for name in try group.memberNames() {
            let member = path + "/" + name
            switch try source.objectKind(member) {
            case .group:
                try target.createGroup(member)
                try copyGroup(source, member, into: target, strings: strings, replace: replace)
            case .dataset where try source.openDataset(member).elementType == .float32:
                let array = try source.read(member, as: Float.self)
                let (values, shape) = replace(member, array.values, array.shape) ?? (array.values, array.shape)
                try target.write(values, shape: shape, to: member)
            default:
                let text = try source.readStrings(member)
                try target.write(strings(member, text.values) ?? text.values, shape: text.shape, to: member)
            }
        }
    }

    /// The first trainable tensor of a checkpoint whose name contains `fragment`.
    static func checkpointTensor(_ file: URL, containing fragment: String) throws -> String {
        let h5 = try H5File.open(file.path, mode: .readOnly)
        defer { try? h5.close() }
        let names = try h5.stringAttribute("parameter_names").split(separator: "\n").map(String.init)
        guard let name = names.first(where: { $0.contains(fragment) }) else {
            throw MutationError("no checkpoint tensor contains '\(fragment)'; names: \(names.prefix(5))...")
        }
        return name
    }
}

struct MutationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
