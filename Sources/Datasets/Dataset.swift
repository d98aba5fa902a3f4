import Foundation
import Images

/// A data set directory opened for reading: dataset.json plus the shards of every split.
package final class Dataset {
    package let directory: String
    package let description: DatasetDescription
    private let splits: [String: DatasetSplit]

    /// How the images are sized: one side for all (formats 1, 2) or each its own (format 3).
    package var layout: ImageLayout { description.layout }
    /// (imageSize, imageSize, 3) uint8 per image; nil when images have their own sizes.
    package var imageSize: Int? { layout.fixedSize }
    package var splitNames: [String] { description.splits.keys.sorted() }

    /// Opens `directory`. Every shard listed in dataset.json must exist; with `verifyShards`
    /// each is also opened once and its attributes and dataset shapes checked against
    /// dataset.json (otherwise that happens when a shard is first read). Errors name the file.
    /// At most `maxOpenShards` shards per split stay open (least recently used are closed).
    package static func open(_ directory: String, verifyShards: Bool = true, maxOpenShards: Int = 64) throws -> Dataset {
        let description = try DatasetDescription.load(directory: directory)
        var splits: [String: DatasetSplit] = [:]
        for (name, split) in description.splits {
            splits[name] = try DatasetSplit(name: name, description: split, directory: directory,
                                            layout: description.layout, maxOpenShards: max(1, maxOpenShards),
                                            verify: verifyShards)
        }
        return Dataset(directory: directory, description: description, splits: splits)
    }

    private init(directory: String, description: DatasetDescription, splits: [String: DatasetSplit]) {
        self.directory = directory
        self.description = description
        self.splits = splits
    }

    package func split(_ name: String) throws -> DatasetSplit {
        guard let split = splits[name] else {
            let path = (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile)
            let known = splitNames.isEmpty ? "none" : splitNames.joined(separator: ", ")
            throw DatasetError(file: path, "has no split '\(name)' (splits: \(known))")
        }
        return split
    }
}

/// One split: samples 0..<count across its shards, in shard order. Shards are opened on first
/// use and kept open. Not for concurrent use from several threads.
package final class DatasetSplit {
    package let name: String
    package let count: Int
    package let layout: ImageLayout
    package let description: SplitDescription
    private let shardPaths: [String]
    /// DIR/NAME, for messages.
    private let folder: String
    /// shardStarts[s] is the split index of shard s's first sample; the last entry is `count`.
    private let shardStarts: [Int]
    private var shards: [ShardInput?]
    /// Shards whose checksum this process has verified: each is read in full once, not per reopen.
    private var verified: [Bool]
    private let maxOpenShards: Int
    private var openShards = 0
    private var useClock = 0
    /// Scratch for `readImages`, kept so batches after the first allocate nothing.
    private var keys: [Int] = []
    private var order: [Int] = []

    /// The side of every image, nil when each has its own size (format 3: read them with `images(at:)`).
    package var imageSize: Int? { layout.fixedSize }
    package var bytesPerImage: Int? { imageSize.map { $0 * $0 * 3 } }
    /// The most hard negatives one sample of this split carries, counted in the shards when the
    /// split was opened with verification (nil without it).
    package private(set) var mostNegativesPerSample: Int?

    init(name: String, description: SplitDescription, directory: String, layout: ImageLayout, maxOpenShards: Int,
         verify: Bool) throws {
        self.name = name
        self.description = description
        self.count = description.count
        self.layout = layout
        self.maxOpenShards = maxOpenShards
        folder = (directory as NSString).appendingPathComponent(name)
        shardPaths = description.shards.map { (directory as NSString).appendingPathComponent($0.file) }
        var starts = [0]
        for shard in description.shards { starts.append(starts.last! + shard.count) }
        shardStarts = starts
        shards = [ShardInput?](repeating: nil, count: shardPaths.count)
        verified = [Bool](repeating: false, count: shardPaths.count)
        var counted = ShardCaptionCounts()
        for (index, path) in shardPaths.enumerated() {
            guard FileManager.default.fileExists(atPath: path) else {
                throw DatasetError(file: path, "is listed in dataset.json (split '\(name)') but missing: the data "
                                   + "set is incomplete; copy the file back or re-create it with `discern prepare`")
            }
            if verify {
                let checked = try openVerified(index)
                defer { checked.close() }
                counted = counted + (try checked.captionCounts())
            }
        }
        if verify {
            mostNegativesPerSample = counted.mostNegativesPerSample
            try description.verify(counted: counted, split: name,
                                   descriptionPath: (directory as NSString).appendingPathComponent(ShardSchema.descriptionFile))
        }
    }

    /// Everything stored for sample `index`.
    package func sample(at index: Int) throws -> Sample {
        let (shard, row) = try locate(index)
        return try shard.sample(row: row)
    }

    /// The captions of sample `index` (nil when absent), without reading its image.
    package func captions(at index: Int) throws -> (short: String?, long: String?) {
        let (shard, row) = try locate(index)
        return (try shard.caption(flag: ShardSchema.hasShort, text: ShardSchema.short, row: row),
                try shard.caption(flag: ShardSchema.hasLong, text: ShardSchema.long, row: row))
    }

    /// True when some sample has more than one short caption (dataset.json's `more_short`).
    package var hasShortCaptionLists: Bool { (description.captions.moreShort ?? 0) > 0 }

    /// Every short caption of sample `index` (empty when it has none; one for a split without
    /// caption lists), without reading its image.
    package func shortCaptions(at index: Int) throws -> [String] {
        let (shard, row) = try locate(index)
        return try shard.shortCaptions(row: row)
    }

    /// Up to `limit` hard negative captions of sample `index` for training: its non-empty ones in
    /// the order of the shard's negative types (names sorted). `discern synth --train-negatives`
    /// stores one per sample, with `--every-train-negative` one per type.
    package func hardNegatives(at index: Int, limit: Int) throws -> [String] {
        let (shard, row) = try locate(index)
        var found: [String] = []
        for type in shard.negativeTypes where found.count < limit {
            let text = try shard.string("\(ShardSchema.negatives)/\(type)", row: row)
            if !text.isEmpty { found.append(text) }
        }
        return found
    }

    /// Reads the images of `indices` into `destination`: (indices.count, imageSize, imageSize, 3),
    /// image k at destination + k * bytesPerImage. Reads are grouped by shard and in row order;
    /// runs of consecutive rows that land in consecutive slots are read with one call.
    /// Only for fixed-size splits: images of their own sizes are read with `images(at:)`.
    package func readImages<Indices: Collection<Int>>(indices: Indices,
                                                     into destination: UnsafeMutablePointer<UInt8>) throws {
        guard let bytesPerImage else {
            throw DatasetError(file: folder, "split '\(name)' stores images at \(layout), not one size for all; "
                               + "read them with images(at:) (a Qwen2-VL data set), or re-create it for a fixed-size model")
        }
        keys.removeAll(keepingCapacity: true)
        keys.append(contentsOf: indices)
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: keys.indices)
        for key in keys where key < 0 || key >= count { throw outOfRange(key) }
        order.sort { keys[$0] < keys[$1] || (keys[$0] == keys[$1] && $0 < $1) }
        var position = 0
        while position < order.count {
            let slot = order[position], index = keys[slot]
            let shardIndex = shardContaining(index)
            let shardEnd = shardStarts[shardIndex + 1]
            var length = 1
            while position + length < order.count {
                let nextSlot = order[position + length], nextIndex = keys[nextSlot]
                guard nextIndex == index + length, nextSlot == slot + length, nextIndex < shardEnd else { break }
                length += 1
            }
            let row = index - shardStarts[shardIndex]
            guard case .fixed(let reader, _) = try shard(shardIndex).images else { preconditionFailure("fixed layout, own-size shard") }
            try reader.readRows(row..<(row + length), into: destination + slot * bytesPerImage)
            position += length
        }
    }

    /// The images of `indices`, in that order, each with its size (any layout): what a batch of
    /// Qwen2-VL samples needs. Each image is one read of its contiguous bytes.
    package func images<Indices: Collection<Int>>(at indices: Indices) throws -> [RGBImage] {
        try indices.map { index in
            let (shard, row) = try locate(index)
            return try shard.images.image(row: row)
        }
    }

    /// The (width, height) of sample `index`'s image, without reading it (format 3 keeps the
    /// sizes of an open shard in memory): for planning a batch's image tokens.
    package func imageSize(at index: Int) throws -> (width: Int, height: Int) {
        let (shard, row) = try locate(index)
        return shard.images.size(row: row)
    }

    private func locate(_ index: Int) throws -> (ShardInput, Int) {
        guard index >= 0, index < count else { throw outOfRange(index) }
        let shardIndex = shardContaining(index)
        return (try shard(shardIndex), index - shardStarts[shardIndex])
    }

    private func outOfRange(_ index: Int) -> DatasetError {
        DatasetError(file: folder, "sample index \(index) is outside split '\(name)' "
                     + "(\(count) samples)")
    }

    /// Binary search: the shard s with shardStarts[s] <= index < shardStarts[s + 1].
    private func shardContaining(_ index: Int) -> Int {
        var low = 0, high = shardPaths.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if shardStarts[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Opens shard `index`, its checksum verified first (once per process: it reads the whole file).
    private func openVerified(_ index: Int) throws -> ShardInput {
        let check = verified[index] ? nil : try description.shards[index].verifyIntegrity(at: shardPaths[index])
        let opened = try ShardInput(path: shardPaths[index], count: shardStarts[index + 1] - shardStarts[index], layout: layout)
        guard let check else { return opened }
        if let mismatch = check.mismatch {
            opened.close()
            throw mismatch
        }
        if !check.isSealed, !verified.contains(true) {
            FileHandle.standardError.write(Data(("warning: \(folder): format 1 shards (written before checksums) are read "
                                                 + "without an integrity check\n").utf8))
        }
        verified[index] = true
        return opened
    }

    private func shard(_ index: Int) throws -> ShardInput {
        useClock += 1
        if let open = shards[index] {
            open.lastUse = useClock
            return open
        }
        if openShards >= maxOpenShards, let oldest = shards.indices.filter({ shards[$0] != nil })
            .min(by: { shards[$0]!.lastUse < shards[$1]!.lastUse }) {
            shards[oldest]!.close()
            shards[oldest] = nil
            openShards -= 1
        }
        let opened = try openVerified(index)
        opened.lastUse = useClock
        shards[index] = opened
        openShards += 1
        return opened
    }
}
