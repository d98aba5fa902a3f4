import Foundation
import HDF5Files

/// One open shard, checked against what dataset.json says it holds.
final class ShardInput {
    let path: String
    let count: Int
    let negativeTypes: [String]
    /// Reads image rows into caller memory without per-read allocation.
    let images: H5RowReader<UInt8>
    /// For least-recently-used closing when too many shards are open.
    var lastUse = 0
    /// Open for the lifetime of this value (SplitVerification reads the caption columns).
    let file: H5File

    init(path: String, count: Int, imageSize: Int) throws {
        self.path = path
        self.count = count
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError(file: path, "is listed in dataset.json but missing: the data set is incomplete; "
                               + "copy the file back or re-create the data set with `discern prepare`")
        }
        do {
            file = try H5File.open(path)
            let version = try file.int64Attribute(ShardSchema.formatVersionAttribute)
            guard version >= 1, version <= ShardSchema.formatVersion else {
                throw DatasetError(file: path, "shard format_version \(version) is not supported (this discern "
                                   + "reads 1...\(ShardSchema.formatVersion)); update discern")
            }
            let size = try file.int64Attribute(ShardSchema.imageSizeAttribute)
            guard size == imageSize else {
                throw DatasetError(file: path, "holds \(size)-pixel images but dataset.json says \(imageSize); "
                                   + "the shard belongs to another data set")
            }
            let imageData = try file.openDataset(ShardSchema.images)
            try Self.require(imageData, shape: [count, imageSize, imageSize, 3], path)
            images = try imageData.rowReader(as: UInt8.self)
            for name in [ShardSchema.ids, ShardSchema.short, ShardSchema.long, ShardSchema.hasShort,
                         ShardSchema.hasLong] {
                try Self.require(try file.openDataset(name), shape: [count], path)
            }
            if try file.objectKind(ShardSchema.negatives) == .group {
                negativeTypes = try file.openGroup(ShardSchema.negatives).memberNames()
                for type in negativeTypes {
                    try Self.require(try file.openDataset("\(ShardSchema.negatives)/\(type)"), shape: [count], path)
                }
            } else {
                negativeTypes = []
            }
        } catch let error as DatasetError {
            throw error
        } catch {
            throw DatasetError(file: path, "is not a readable shard: \(error)")
        }
    }

    private static func require(_ dataset: H5Dataset, shape: [Int], _ path: String) throws {
        let actual = try dataset.shape
        guard actual == shape else {
            let rows = actual.first.map { "\($0) samples" } ?? "no rows"
            throw DatasetError(file: path, "'\(dataset.objectPath)' has shape \(actual) (\(rows)) but dataset.json "
                               + "says \(shape[0]) samples of shape \(Array(shape.dropFirst())); the data set is "
                               + "inconsistent: re-create it with `discern prepare`")
        }
    }

    func string(_ name: String, row: Int) throws -> String {
        try file.openDataset(name).readStringRows(row..<(row + 1)).values[0]
    }

    func flag(_ name: String, row: Int) throws -> Bool {
        try file.openDataset(name).readRows(row..<(row + 1), as: UInt8.self).values[0] != 0
    }

    /// The caption in column `text` when its `flag` is set and it is not empty (an empty caption
    /// is absent everywhere, docs/data.md), else nil.
    func caption(flag: String, text: String, row: Int) throws -> String? {
        guard try self.flag(flag, row: row) else { return nil }
        let value = try string(text, row: row)
        return value.isEmpty ? nil : value
    }

    func sample(row: Int) throws -> Sample {
        var image = [UInt8](repeating: 0, count: images.elementsPerRow)
        try image.withUnsafeMutableBufferPointer { try images.readRows(row..<(row + 1), into: $0.baseAddress!) }
        var negatives: [String: String] = [:]
        for type in negativeTypes {
            let text = try string("\(ShardSchema.negatives)/\(type)", row: row)
            if !text.isEmpty { negatives[type] = text }
        }
        return Sample(id: try string(ShardSchema.ids, row: row), image: image,
                      short: try caption(flag: ShardSchema.hasShort, text: ShardSchema.short, row: row),
                      long: try caption(flag: ShardSchema.hasLong, text: ShardSchema.long, row: row),
                      negatives: negatives)
    }

    func close() { try? file.close() }
}
