import Foundation
import HDF5Files

/// Writes one split of a data set as HDF5 shards of `samplesPerShard` samples, then records the
/// split in dataset.json. Crash safety: each shard is written to `shard-NNNNN.h5.tmp` and renamed
/// (after fsync) only when complete, and the split appears in dataset.json only in `finish()`,
/// so an interrupted import never looks complete. Identical samples appended in the same order
/// give byte-identical shards and dataset.json (no time stamps anywhere).
package final class ShardWriter {
    package let directory: String
    package let split: String
    /// One side for every image (formats 1, 2) or each image its own (format 3).
    package let layout: ImageLayout
    package let samplesPerShard: Int
    /// Samples appended so far.
    package private(set) var count = 0
    private let createdBy: String
    private let deflateLevel: Int?
    private var shards: [ShardDescription] = []
    private var statistics = CaptionStatistics()
    private var current: OpenShardOutput?
    private var finished = false
    /// True when this writer created `directory`: `abort()` then removes it again if it is empty.
    private let createdDirectory: Bool

    /// The side of every image of a fixed layout (nil: images of their own sizes).
    package var imageSize: Int? { layout.fixedSize }
    /// Bytes of one image of a fixed layout: imageSize * imageSize * 3.
    package var bytesPerImage: Int? { imageSize.map { $0 * $0 * 3 } }

    /// A writer of (imageSize, imageSize, 3) images: format version 2.
    package convenience init(directory: String, split: String, imageSize: Int,
                             samplesPerShard: Int = ShardSchema.defaultSamplesPerShard,
                             createdBy: String = "discern", deflateLevel: Int? = 1) throws {
        try self.init(directory: directory, split: split, layout: .fixed(size: imageSize), samplesPerShard: samplesPerShard,
                      createdBy: createdBy, deflateLevel: deflateLevel)
    }

    /// Prepares `directory/split/`. Fails when dataset.json already lists `split` or has another
    /// image layout. Shard files left in the split folder by an interrupted earlier import (the
    /// split is not in dataset.json, so nothing refers to them) are removed.
    /// `deflateLevel` nil stores images uncompressed.
    package init(directory: String, split: String, layout: ImageLayout,
                samplesPerShard: Int = ShardSchema.defaultSamplesPerShard,
                createdBy: String = "discern", deflateLevel: Int? = 1) throws {
        guard ShardSchema.isPlainName(split) else {
            throw DatasetError(file: directory, "split name '\(split)' must be a plain name (letters, digits, "
                               + "'_', '-', '.'), e.g. train or eval")
        }
        try Self.requireValid(layout, samplesPerShard: samplesPerShard, directory: directory)
        self.directory = directory
        self.split = split
        self.layout = layout
        self.samplesPerShard = samplesPerShard
        self.createdBy = createdBy
        self.deflateLevel = deflateLevel
        let splitFolder = (directory as NSString).appendingPathComponent(split)
        createdDirectory = !FileManager.default.fileExists(atPath: directory)
        do {
            try FileManager.default.createDirectory(atPath: splitFolder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(file: splitFolder, "cannot create the folder: \(error.localizedDescription)")
        }
        if let existing = try Self.existingDescription(directory) {
            let path = (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile)
            guard existing.splits[split] == nil else {
                throw DatasetError(file: path, "already holds a split '\(split)'; write to another --output "
                                   + "or --split, or delete '\(splitFolder)' and its entry in dataset.json")
            }
            guard existing.layout == layout else {
                throw DatasetError(file: path, "holds \(existing.layout.imagesPhrase); a split of \(layout.imagesPhrase) "
                                   + "must go to another data set directory")
            }
        }
        try removeLeftovers(in: splitFolder)
    }

    /// Adds one sample; its image must be (imageSize, imageSize, 3), or for own sizes (height,
    /// width, 3) with sides the sizing allows.
    package func append(_ sample: Sample) throws {
        precondition(!finished, "ShardWriter: append after finish() or abort()")
        try requireFits(sample)
        // A single caption keeps the rules it always had ("" is absent); a list is checked whole.
        if sample.shortCaptions.count > 1, let problem = ShortCaptionRules.problem(sample.shortCaptions) {
            throw DatasetError(file: directory, "sample '\(sample.id)': \(problem)")
        }
        for type in sample.negatives.keys where !ShardSchema.isPlainName(type) {
            throw DatasetError(file: directory, "sample '\(sample.id)': negative type '\(type)' must be a plain "
                               + "name (letters, digits, '_', '-', '.')")
        }
        if current == nil {
            let file = ShardSchema.shardPath(split: split, index: shards.count)
            current = try OpenShardOutput(directory: directory, file: file, layout: layout, deflateLevel: deflateLevel)
        }
        do { try current!.append(sample) } catch {
            // A failed write (a full disk) closes and removes the unfinished shard at once, even
            // for a caller that never calls abort().
            current!.discard()
            current = nil
            throw error
        }
        statistics.add(sample)
        count += 1
        if current!.count == samplesPerShard { try closeShard() }
    }

    /// Completes the last shard and records the split in dataset.json (atomically).
    @discardableResult
    package func finish() throws -> SplitDescription {
        precondition(!finished, "ShardWriter: finish() called twice or after abort()")
        if current != nil { try closeShard() }
        finished = true
        let description = SplitDescription(count: count, shards: shards, captions: statistics)
        var dataset = try Self.existingDescription(directory)
            ?? DatasetDescription(layout: layout, createdBy: createdBy)
        dataset.splits[split] = description
        try dataset.save(directory: directory)
        return description
    }

    /// Gives up: removes every shard this writer made and leaves dataset.json untouched.
    package func abort() {
        finished = true
        current?.discard()
        current = nil
        for shard in shards {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(shard.file))
        }
        shards = []
        let splitFolder = (directory as NSString).appendingPathComponent(split)
        for folder in [splitFolder] + (createdDirectory ? [directory] : [])
            where (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true {
            try? FileManager.default.removeItem(atPath: folder)   // no empty output folder is left behind
        }
    }

    private static func requireValid(_ layout: ImageLayout, samplesPerShard: Int, directory: String) throws {
        switch layout {
        case .fixed(let size):
            guard size > 0, samplesPerShard > 0 else {
                throw DatasetError(file: directory, "image size (\(size)) and samples per shard "
                                   + "(\(samplesPerShard)) must be positive")
            }
        case .own(let sizing):
            if let problem = sizing.problem() { throw DatasetError(file: directory, "image sizing: \(problem)") }
            guard samplesPerShard > 0 else {
                throw DatasetError(file: directory, "samples per shard (\(samplesPerShard)) must be positive")
            }
        }
    }

    /// The sample's image has the bytes its size needs and a size the layout stores.
    private func requireFits(_ sample: Sample) throws {
        func fail(_ problem: String) -> DatasetError { DatasetError(file: directory, "sample '\(sample.id)' \(problem)") }
        switch layout {
        case .fixed(let size):
            guard sample.image.count == size * size * 3 else {
                throw fail("has \(sample.image.count) image bytes; this data set stores \(size)x\(size)x3 = \(size * size * 3)")
            }
            guard sample.width == size, sample.height == size else {
                throw fail("is \(sample.width) x \(sample.height) pixels; this data set stores \(size)x\(size) images")
            }
        case .own(let sizing):
            if let problem = sizing.sizeProblem(width: sample.width, height: sample.height) {
                throw fail("has an image of \(problem) (\(sizing))")
            }
            guard sample.image.count == sample.width * sample.height * 3 else {
                throw fail("has \(sample.image.count) image bytes; \(sample.width) x \(sample.height) x 3 = "
                           + "\(sample.width * sample.height * 3)")
            }
        }
    }

    private func closeShard() throws {
        guard let shard = current else { return }
        let seal: FileSeal.Seal
        do { seal = try shard.complete(split: split) } catch {
            // Closed and removed here, so a full disk leaves neither a .tmp shard nor an open handle.
            shard.discard()
            current = nil
            throw error
        }
        current = nil
        shards.append(ShardDescription(file: shard.file, count: shard.count, crc32: seal.crc32Hex, bytes: seal.fileBytes))
    }

    private static func existingDescription(_ directory: String) throws -> DatasetDescription? {
        let path = (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try DatasetDescription.load(directory: directory)
    }

    private func removeLeftovers(in folder: String) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasPrefix("shard-") && (name.hasSuffix(".h5") || name.hasSuffix(".h5.tmp")) {
            let path = (folder as NSString).appendingPathComponent(name)
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw DatasetError(file: path, "is left from an interrupted import and cannot be removed: "
                                   + "\(error.localizedDescription)")
            }
        }
    }
}
