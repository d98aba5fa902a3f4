import Foundation
import HDF5Files

/// One open shard, checked against what dataset.json says it holds.
final class ShardInput {
    let path: String
    let count: Int
    let negativeTypes: [String]
    /// Where each row's second and later short captions start in `short_more` (count + 1
    /// entries); nil for a shard with one short caption per sample.
    let moreShortStarts: [Int64]?
    /// Reads images: rows into caller memory without per-read allocation (fixed sizes), or each
    /// image's slice of the pixel column (own sizes).
    let images: ShardImageInput
    /// For least-recently-used closing when too many shards are open.
    var lastUse = 0
    /// Open for the lifetime of this value (SplitVerification reads the caption columns).
    let file: H5File

    init(path: String, count: Int, layout: ImageLayout) throws {
        self.path = path
        self.count = count
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError(file: path, "is listed in dataset.json but missing: the data set is incomplete; "
                               + "copy the file back or re-create the data set with `discern prepare`")
        }
        do {
            file = try H5File.open(path)
            let version = try file.int64Attribute(ShardSchema.formatVersionAttribute)
            guard version >= 1, version <= ShardSchema.newestFormatVersion else {
                throw DatasetError(file: path, "shard format_version \(version) is not supported (this discern "
                                   + "reads 1...\(ShardSchema.newestFormatVersion)); update discern")
            }
            images = try Self.openImages(file, version: Int(version), layout: layout, count: count, path: path)
            for name in [ShardSchema.ids, ShardSchema.short, ShardSchema.long, ShardSchema.hasShort,
                         ShardSchema.hasLong] {
                try Self.require(try file.openDataset(name), shape: [count], path)
            }
            moreShortStarts = try Self.openShortCaptionLists(file, count: count, path: path)
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

    /// The image datasets of a shard whose version and attributes match dataset.json's layout.
    private static func openImages(_ file: H5File, version: Int, layout: ImageLayout, count: Int,
                                   path: String) throws -> ShardImageInput {
        guard (version >= ShardSchema.ownSizeFormatVersion) == (layout.fixedSize == nil) else {
            throw DatasetError(file: path, "is a format_version \(version) shard but dataset.json says its images are "
                               + "\(layout); the shard belongs to another data set")
        }
        switch layout {
        case .fixed(let imageSize):
            let size = try file.int64Attribute(ShardSchema.imageSizeAttribute)
            guard size == imageSize else {
                throw DatasetError(file: path, "holds \(size)-pixel images but dataset.json says \(imageSize); "
                                   + "the shard belongs to another data set")
            }
            let imageData = try file.openDataset(ShardSchema.images)
            try require(imageData, shape: [count, imageSize, imageSize, 3], path)
            return .fixed(try imageData.rowReader(as: UInt8.self), size: imageSize)
        case .own(let sizing):
            let stored = OwnImageSizing(factor: Int(try file.int64Attribute(ShardSchema.imageFactorAttribute)),
                                        minPixels: Int(try file.int64Attribute(ShardSchema.imageMinPixelsAttribute)),
                                        maxPixels: Int(try file.int64Attribute(ShardSchema.imageMaxPixelsAttribute)))
            guard stored == sizing else {
                throw DatasetError(file: path, "holds images made with \(stored) but dataset.json says \(sizing); "
                                   + "the shard belongs to another data set")
            }
            return .own(try OwnSizeImageIndex(file, path: path, count: count, sizing: sizing))
        }
    }

    /// The row starts of a shard marked short_caption_lists = 1 (ShardSchema), checked: they begin
    /// at 0, never decrease and end at the length of `short_more`.
    private static func openShortCaptionLists(_ file: H5File, count: Int, path: String) throws -> [Int64]? {
        guard try file.hasAttribute(ShardSchema.shortCaptionListsAttribute) else { return nil }
        let marker = try file.int64Attribute(ShardSchema.shortCaptionListsAttribute)
        guard marker == 1 else {
            throw DatasetError(file: path, "short_caption_lists is \(marker); this discern reads 1 (several short captions "
                               + "per sample); update discern")
        }
        try require(try file.openDataset(ShardSchema.shortMoreStarts), shape: [count + 1], path)
        let starts = try file.read(ShardSchema.shortMoreStarts, as: Int64.self).values
        let stored = try file.openDataset(ShardSchema.shortMore).shape
        guard starts.first == 0, zip(starts, starts.dropFirst()).allSatisfy({ $0 <= $1 }), stored == [Int(starts.last!)] else {
            throw DatasetError(file: path, "'\(ShardSchema.shortMoreStarts)' does not describe '\(ShardSchema.shortMore)' "
                               + "(\(stored) rows): the shard is damaged; re-create the data set with `discern prepare`")
        }
        return starts
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

    /// Every short caption of `row`: the first (when present), then its others (caption lists).
    func shortCaptions(row: Int) throws -> [String] {
        guard let first = try caption(flag: ShardSchema.hasShort, text: ShardSchema.short, row: row) else { return [] }
        guard let starts = moreShortStarts, starts[row] < starts[row + 1] else { return [first] }
        let rows = Int(starts[row])..<Int(starts[row + 1])
        return [first] + (try file.openDataset(ShardSchema.shortMore).readStringRows(rows).values)
    }

    func sample(row: Int) throws -> Sample {
        let image = try images.image(row: row)
        var negatives: [String: String] = [:]
        for type in negativeTypes {
            let text = try string("\(ShardSchema.negatives)/\(type)", row: row)
            if !text.isEmpty { negatives[type] = text }
        }
        return Sample(id: try string(ShardSchema.ids, row: row), image: image, shortCaptions: try shortCaptions(row: row),
                      long: try caption(flag: ShardSchema.hasLong, text: ShardSchema.long, row: row),
                      negatives: negatives)
    }

    func close() { try? file.close() }
}
