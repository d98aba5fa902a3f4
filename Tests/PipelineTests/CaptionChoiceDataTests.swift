import Configuration
import Datasets
import Foundation
import Runs
import XCTest

/// Training batches of a split with several short captions per image: the caption each pair
/// uses and each image's identity do not depend on the number of ranks or on resuming, and over
/// as many epochs as a sample has captions it uses every one.
final class CaptionChoiceDataTests: XCTestCase {
    var folder = URL(fileURLWithPath: "/nonexistent")
    static let samples = 12, global = 6, captionsPerImage = 3

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-caption-choice-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// Sample i has captions "s<i> c<k>" (k < 3); samples 10 and 11 store sample 0's image.
    func writeSplit() throws -> DatasetSplit {
        let writer = try ShardWriter(directory: folder.path, split: "train", imageSize: 2, samplesPerShard: 5)
        for i in 0..<Self.samples {
            let pixel = UInt8(i >= 10 ? 0 : i)
            try writer.append(Sample(id: "s\(i)", image: [UInt8](repeating: pixel, count: 12), width: 2, height: 2,
                                     shortCaptions: (0..<Self.captionsPerImage).map { "s\(i) c\($0)" }, long: "long \(i)"))
        }
        try writer.finish()
        return try Dataset.open(folder.path).split("train")
    }

    /// The global batch of `step` as `ranks` ranks see it, their shares in rank order.
    func globalBatch(_ data: ShardTrainingData, step: Int, ranks: Int) throws -> (captions: [String], imageKeys: [UInt64]) {
        let split = try BatchSplit(global: Self.global, ranks: ranks)
        var captions: [String] = [], keys: [UInt64] = []
        for rank in 0..<ranks {
            let batch = try data.batch(step: step, rank: rank, split: split)
            captions += batch.shortCaptions.map { $0! }
            keys += batch.imageKeys
        }
        return (captions, keys)
    }

    func testChoiceIsTheSameOnAnyRanksAndAfterResumingAndCoversEveryCaption() throws {
        let split = try writeSplit()
        let steps = 3 * Self.samples / Self.global   // three epochs
        let single = ShardTrainingData(split: split, seed: 4)
        let reference = try (0..<steps).map { try globalBatch(single, step: $0, ranks: 1) }
        for ranks in [2, 3] {
            let data = ShardTrainingData(split: split, seed: 4)
            for step in 0..<steps {
                let batch = try globalBatch(data, step: step, ranks: ranks)
                XCTAssertEqual(batch.captions, reference[step].captions, "\(ranks) ranks, step \(step)")
                XCTAssertEqual(batch.imageKeys, reference[step].imageKeys, "\(ranks) ranks, step \(step)")
            }
        }
        // A resumed run starts with a fresh reader at its step.
        let resumed = ShardTrainingData(split: split, seed: 4)
        for step in 3..<steps { XCTAssertEqual(try globalBatch(resumed, step: step, ranks: 2).captions, reference[step].captions) }
        // Three epochs, three captions: every sample used each of its captions once.
        var used: [String: Set<String>] = [:]
        for batch in reference {
            for caption in batch.captions { used[String(caption.split(separator: " ")[0]), default: []].insert(caption) }
        }
        XCTAssertEqual(used.count, Self.samples)
        for (sample, captions) in used {
            XCTAssertEqual(captions, Set((0..<Self.captionsPerImage).map { "\(sample) c\($0)" }), sample)
        }
        // The image identity: samples 10 and 11 share sample 0's stored image, all others differ.
        var keyOf: [String: UInt64] = [:]
        for batch in reference { for (caption, key) in zip(batch.captions, batch.imageKeys) { keyOf[String(caption.split(separator: " ")[0])] = key } }
        XCTAssertEqual(keyOf["s10"], keyOf["s0"])
        XCTAssertEqual(keyOf["s11"], keyOf["s0"])
        XCTAssertEqual(Set(keyOf.values).count, 10)
    }
}
