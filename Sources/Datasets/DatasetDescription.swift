import Formats
import Foundation
import HDF5Files

/// The contents of a data set's `dataset.json`: what the directory holds. A split exists only
/// once its entry is written here, after all its shards are complete (see `ShardWriter`).
package struct DatasetDescription: Codable, Equatable, Sendable {
    /// Always `ShardSchema.formatName`.
    package var format: String
    package var formatVersion: Int
    /// Formats 1 and 2: images are (imageSize, imageSize, 3) uint8. Absent in format 3.
    package var imageSize: Int?
    /// Format 3: each image has its own size, made by smart_resize with these settings.
    package var imageSizing: OwnImageSizing?
    /// The tool that wrote the data set ("discern prepare", "discern synth").
    package var createdBy: String
    package var splits: [String: SplitDescription]

    enum CodingKeys: String, CodingKey {
        case format, formatVersion = "format_version", imageSize = "image_size", imageSizing = "image_sizing",
             createdBy = "created_by", splits
    }

    /// A description of the newest format for `layout`: 2 for fixed-size images, 3 for own sizes.
    package init(layout: ImageLayout, createdBy: String, splits: [String: SplitDescription] = [:]) {
        format = ShardSchema.formatName
        formatVersion = layout.formatVersion
        switch layout {
        case .fixed(let size): imageSize = size
        case .own(let sizing): imageSizing = sizing
        }
        self.createdBy = createdBy
        self.splits = splits
    }

    package init(imageSize: Int, createdBy: String, splits: [String: SplitDescription] = [:]) {
        self.init(layout: .fixed(size: imageSize), createdBy: createdBy, splits: splits)
    }

    /// How the images are sized; only for a description that passed `validate` (which requires
    /// exactly one of image_size and image_sizing).
    package var layout: ImageLayout {
        if let imageSizing { return .own(imageSizing) }
        precondition(imageSize != nil, "DatasetDescription.layout of an unvalidated description")
        return .fixed(size: imageSize!)
    }
}

package struct SplitDescription: Codable, Equatable, Sendable {
    /// Samples in the split: the sum of the shard counts.
    package var count: Int
    package var shards: [ShardDescription]
    package var captions: CaptionStatistics

    package init(count: Int, shards: [ShardDescription], captions: CaptionStatistics) {
        self.count = count
        self.shards = shards
        self.captions = captions
    }
}

package struct ShardDescription: Codable, Equatable, Sendable {
    /// Path relative to the data set directory, e.g. "train/shard-00000.h5".
    package var file: String
    package var count: Int
    /// Since format 2: the shard's CRC-32 seal (8 hex digits, over the bytes after its 512-byte
    /// user block) and its size in bytes; verified before the shard is opened. Absent in format 1.
    package var crc32: String?
    package var bytes: Int?

    package init(file: String, count: Int, crc32: String? = nil, bytes: Int? = nil) {
        self.file = file
        self.count = count
        self.crc32 = crc32
        self.bytes = bytes
    }
}

extension DatasetDescription {
    /// Reads and checks `directory/dataset.json`; errors name the file and the key.
    package static func load(directory: String) throws -> DatasetDescription {
        let path = (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile)
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError(file: path, "not found: '\(directory)' is not a Discern data set (or its import "
                               + "never finished); create it with `discern prepare`")
        }
        // Strict JSON: a duplicated key or a trailing comma is an error, not a silent choice.
        let description: DatasetDescription
        do { description = try StrictJSON.decode(DatasetDescription.self, path: path) } catch {
            let place = error.entry.map { "key '\($0)' " } ?? ""
            throw DatasetError(file: path, "is not a valid data set description: \(place)\(error.problem)")
        }
        try description.validate(path: path)
        return description
    }

    /// More samples than any shard can hold (2^32: far beyond the default 1,000 per shard), so a
    /// damaged count is refused before it is used in arithmetic.
    static let maxSamplesPerShard = 1 << 32

    /// Checks the description on its own (the shards are checked by `Dataset`).
    func validate(path: String) throws {
        func fail(_ problem: String) -> DatasetError { DatasetError(file: path, problem) }
        guard format == ShardSchema.formatName else {
            throw fail("'format' is '\(format)', expected '\(ShardSchema.formatName)'")
        }
        guard formatVersion >= 1, formatVersion <= ShardSchema.newestFormatVersion else {
            throw fail("'format_version' is \(formatVersion) but this discern reads versions 1..."
                       + "\(ShardSchema.newestFormatVersion); update discern or re-create the data set")
        }
        if let problem = layoutProblem() { throw fail(problem) }
        var seen = Set<String>()
        for (name, split) in splits.sorted(by: { $0.key < $1.key }) {
            guard ShardSchema.isPlainName(name) else {
                throw fail("split name '\(name)' is not a plain name (letters, digits, '_', '-', '.')")
            }
            for shard in split.shards {
                // A shard listed twice would be read twice: every pair in it counted double.
                guard seen.insert((shard.file as NSString).standardizingPath).inserted else {
                    throw fail("splits.\(name): shard '\(shard.file)' is listed twice; each shard file may appear once in dataset.json")
                }
                let parts = shard.file.split(separator: "/")
                guard shard.count > 0, shard.count <= Self.maxSamplesPerShard, !shard.file.hasPrefix("/"), !parts.contains("..") else {
                    throw fail("splits.\(name): shard entry '\(shard.file)' (count \(shard.count)) must be a relative "
                               + "path inside the data set with a count from 1 to \(Self.maxSamplesPerShard)")
                }
                try validateChecksum(shard, split: name, fail: fail)
            }
            // Bounded counts (above) cannot overflow this sum.
            let sum = split.shards.reduce(0) { $0 + $1.count }
            guard sum == split.count else {
                throw fail("splits.\(name): 'count' is \(split.count) but its shards hold \(sum) samples")
            }
        }
    }

    /// Formats 1 and 2 record one positive `image_size`, format 3 a valid `image_sizing` instead.
    private func layoutProblem() -> String? {
        guard formatVersion >= ShardSchema.ownSizeFormatVersion else {
            guard imageSizing == nil else {
                return "'image_sizing' (images at their own sizes) needs format_version \(ShardSchema.ownSizeFormatVersion), "
                    + "not \(formatVersion); re-create the data set with `discern prepare`"
            }
            guard let imageSize else { return "'image_size' is missing (format_version \(formatVersion) stores every image at one size)" }
            return imageSize > 0 ? nil : "'image_size' is \(imageSize); it must be positive"
        }
        guard imageSize == nil else {
            return "'image_size' must be absent in format_version \(formatVersion): its images keep their own sizes ('image_sizing')"
        }
        guard let imageSizing else {
            return "'image_sizing' is missing (format_version \(formatVersion) stores each image at its own size)"
        }
        return imageSizing.problem().map { "'image_sizing': \($0)" }
    }

    /// Format 2 records every shard's checksum and size; format 1 has neither. Either both or none.
    private func validateChecksum(_ shard: ShardDescription, split: String, fail: (String) -> DatasetError) throws {
        let where_ = "splits.\(split): shard '\(shard.file)'"
        if shard.crc32 == nil && shard.bytes == nil && formatVersion < 2 { return }
        guard let crc = shard.crc32, crc.count == 8, UInt32(crc, radix: 16) != nil, crc == crc.lowercased() else {
            throw fail("\(where_): 'crc32' must be 8 lowercase hex digits (format_version \(formatVersion) records one per shard); "
                       + "re-create the data set with `discern prepare`")
        }
        guard let bytes = shard.bytes, bytes > FileSeal.blockSize else {
            throw fail("\(where_): 'bytes' must be the shard's size, more than \(FileSeal.blockSize); re-create the data set "
                       + "with `discern prepare`")
        }
    }

    /// Writes `directory/dataset.json` atomically (temporary file, fsync, rename): readers see
    /// the old description or the new one, never a torn file. Keys are sorted, so the same
    /// description always gives the same bytes.
    package func save(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile)
        let temporary = path + ".tmp"
        do {
            var data = try JSONOutput.encode(self, style: .document)
            data.append(UInt8(ascii: "\n"))
            try data.write(to: URL(fileURLWithPath: temporary))
            try durableRename(from: temporary, to: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(file: path, "cannot be written: \(error)")
        }
    }
}
