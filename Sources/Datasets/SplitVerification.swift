import Foundation
import HDF5Files

/// What a shard's caption flags and negative columns actually hold, counted the way
/// CaptionStatistics counts when a split is written: a caption counts when its flag is set and
/// its text is not empty, a negative when its text is not empty.
struct ShardCaptionCounts: Equatable {
    var short = 0
    var long = 0
    /// Short captions beyond each sample's first.
    var moreShort = 0
    var negatives: [String: Int] = [:]
    /// The most hard negatives any one sample carries (at most one per type).
    var mostNegativesPerSample = 0

    static func + (a: ShardCaptionCounts, b: ShardCaptionCounts) -> ShardCaptionCounts {
        ShardCaptionCounts(short: a.short + b.short, long: a.long + b.long, moreShort: a.moreShort + b.moreShort,
                           negatives: a.negatives.merging(b.negatives, uniquingKeysWith: +),
                           mostNegativesPerSample: max(a.mostNegativesPerSample, b.mostNegativesPerSample))
    }
}

extension ShardInput {
    /// Reads the flags and caption columns once (a few bytes per sample, no images).
    func captionCounts() throws -> ShardCaptionCounts {
        func present(_ flag: String, _ text: String) throws -> Int {
            let flags = try file.read(flag, as: UInt8.self).values
            let texts = try file.readStrings(text).values
            return zip(flags, texts).reduce(0) { $0 + ($1.0 != 0 && !$1.1.isEmpty ? 1 : 0) }
        }
        var counts = ShardCaptionCounts(short: try present(ShardSchema.hasShort, ShardSchema.short),
                                        long: try present(ShardSchema.hasLong, ShardSchema.long),
                                        moreShort: Int(moreShortStarts?.last ?? 0))
        var perSample = [Int](repeating: 0, count: count)
        for type in negativeTypes {
            let texts = try file.readStrings("\(ShardSchema.negatives)/\(type)").values
            counts.negatives[type] = texts.reduce(0) { $0 + ($1.isEmpty ? 0 : 1) }
            for (row, text) in texts.enumerated() where !text.isEmpty { perSample[row] += 1 }
        }
        counts.mostNegativesPerSample = perSample.max() ?? 0
        return counts
    }
}

extension SplitDescription {
    /// Checks that the shards hold the captions dataset.json promises: a split whose flags were
    /// zeroed, or whose negative columns went missing, would otherwise train on less than the
    /// configuration asks for without a word.
    func verify(counted: ShardCaptionCounts, split: String, descriptionPath: String) throws {
        func mismatch(_ what: String, listed: Int, found: Int) -> DatasetError {
            DatasetError(file: descriptionPath, "splits.\(split): lists \(listed) \(what) but its shards hold \(found); "
                         + "the shards and dataset.json disagree (a damaged or replaced shard?): re-create the data set "
                         + "with `discern prepare` or `discern synth`")
        }
        guard counted.short == captions.short.count else {
            throw mismatch("short captions", listed: captions.short.count, found: counted.short)
        }
        guard counted.long == captions.long.count else {
            throw mismatch("long captions", listed: captions.long.count, found: counted.long)
        }
        guard counted.moreShort == captions.moreShort ?? 0 else {
            throw mismatch("more short captions", listed: captions.moreShort ?? 0, found: counted.moreShort)
        }
        for type in Set(captions.negatives.keys).union(counted.negatives.keys).sorted() {
            let listed = captions.negatives[type] ?? 0, found = counted.negatives[type] ?? 0
            guard listed == found else { throw mismatch("'\(type)' hard negatives", listed: listed, found: found) }
        }
    }
}
