import Foundation
import HDF5Files

/// One shard being written: images go to the file as they arrive (the image dataset grows by a
/// row per sample), captions are kept in memory and written when the shard is complete.
final class OpenShardOutput {
    /// Path relative to the data set directory.
    let file: String
    private(set) var count = 0
    private let finalPath: String
    private let temporaryPath: String
    private let h5: H5File
    private let images: H5Dataset
    private var ids: [String] = []
    private var shorts: [String] = []
    private var longs: [String] = []
    private var negatives: [String: [String]] = [:]

    init(directory: String, file: String, imageSize: Int, deflateLevel: Int?) throws {
        self.file = file
        finalPath = (directory as NSString).appendingPathComponent(file)
        temporaryPath = finalPath + ".tmp"
        h5 = try H5File.create(temporaryPath, mode: .truncate, tracksObjectTimes: false, userBlock: true)
        // One chunk per sample: a batch read touches exactly the samples it needs.
        let shape = [0, imageSize, imageSize, 3]
        images = try h5.createDataset(ShardSchema.images, elementType: .uint8, shape: shape,
                                      layout: .chunked(chunkShape: [1, imageSize, imageSize, 3],
                                                       deflateLevel: deflateLevel))
    }

    func append(_ sample: Sample) throws {
        try images.resizeRows(to: count + 1)
        try images.writeRows(sample.image, startingAt: count)
        ids.append(sample.id)
        shorts.append(sample.short ?? "")
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
        for type in negatives.keys.sorted() {
            try h5.write(negatives[type]!, to: "\(ShardSchema.negatives)/\(type)")
        }
        try h5.setAttribute(ShardSchema.formatVersionAttribute, .int64(Int64(ShardSchema.formatVersion)))
        try h5.setAttribute(ShardSchema.imageSizeAttribute, .int64(Int64(try images.shape[1])))
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
