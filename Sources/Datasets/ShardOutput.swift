import Foundation
import HDF5Files

/// One shard being written: images go to the file as they arrive (the image datasets grow with
/// each sample), captions are kept in memory and written when the shard is complete.
final class OpenShardOutput {
    /// Path relative to the data set directory.
    let file: String
    private(set) var count = 0
    private let finalPath: String
    private let temporaryPath: String
    private let h5: H5File
    private let layout: ImageLayout
    private let images: ShardImageOutput
    private var ids: [String] = []
    private var shorts: [String] = []
    /// The second and later short captions of every sample, and where each sample's begin.
    private var moreShorts: [String] = []
    private var moreShortStarts: [Int64] = [0]
    private var longs: [String] = []
    private var negatives: [String: [String]] = [:]

    init(directory: String, file: String, layout: ImageLayout, deflateLevel: Int?) throws {
        self.file = file
        self.layout = layout
        finalPath = (directory as NSString).appendingPathComponent(file)
        temporaryPath = finalPath + ".tmp"
        h5 = try H5File.create(temporaryPath, mode: .truncate, tracksObjectTimes: false, userBlock: true)
        images = try layout.makeOutput(in: h5, deflateLevel: deflateLevel)
    }

    func append(_ sample: Sample) throws {
        try images.append(sample, row: count)
        ids.append(sample.id)
        shorts.append(sample.short ?? "")
        moreShorts += sample.shortCaptions.dropFirst()
        moreShortStarts.append(Int64(moreShorts.count))
        longs.append(sample.long ?? "")
        for type in sample.negatives.keys where negatives[type] == nil {
            negatives[type] = [String](repeating: "", count: count)  // earlier samples have none
        }
        for type in negatives.keys { negatives[type]!.append(sample.negatives[type] ?? "") }
        count += 1
    }

    /// Writes the captions and attributes, closes and seals the file and renames it into place;
    /// returns the seal for dataset.json. On an error the caller discards the shard.
    func complete(split: String) throws -> FileSeal.Seal {
        try h5.write(ids, to: ShardSchema.ids)
        try h5.write(shorts, to: ShardSchema.short)
        try h5.write(longs, to: ShardSchema.long)
        // "" cannot tell an absent caption from an empty one on its own; the flags can.
        try h5.write(shorts.map { $0.isEmpty ? UInt8(0) : 1 }, to: ShardSchema.hasShort)
        try h5.write(longs.map { $0.isEmpty ? UInt8(0) : 1 }, to: ShardSchema.hasLong)
        if !moreShorts.isEmpty {
            try h5.write(moreShorts, to: ShardSchema.shortMore)
            try h5.write(moreShortStarts, to: ShardSchema.shortMoreStarts)
            try h5.setAttribute(ShardSchema.shortCaptionListsAttribute, .int64(1))
        }
        for type in negatives.keys.sorted() {
            try h5.write(negatives[type]!, to: "\(ShardSchema.negatives)/\(type)")
        }
        try images.complete(h5)
        try h5.setAttribute(ShardSchema.formatVersionAttribute, .int64(Int64(layout.formatVersion)))
        for (name, value) in images.attributes { try h5.setAttribute(name, .int64(Int64(value))) }
        try h5.setAttribute(ShardSchema.splitAttribute, .string(split))
        try h5.close()
        let seal = try FileSeal.seal(temporaryPath)
        try durableRename(from: temporaryPath, to: finalPath)
        return seal
    }

    /// Closes and deletes the unfinished file.
    func discard() {
        try? h5.close()
        try? FileManager.default.removeItem(atPath: temporaryPath)
    }
}
