import Datasets
import Foundation
import XCTest

final class ShardTests: DatasetTestCase {
    func testRoundTripKeepsEveryField() throws {
        let description = try writeSplit(count: 10, size: 4, perShard: 4)
        XCTAssertEqual(description.shards.map(\.file),
                       ["train/shard-00000.h5", "train/shard-00001.h5", "train/shard-00002.h5"])
        XCTAssertEqual(description.shards.map(\.count), [4, 4, 2])
        let dataset = try Dataset.open(directory)
        XCTAssertEqual(dataset.imageSize, 4)
        XCTAssertEqual(dataset.splitNames, ["train"])
        let split = try dataset.split("train")
        XCTAssertEqual(split.count, 10)
        for number in 0..<10 {
            XCTAssertEqual(try split.sample(at: number), Self.sample(number, size: 4), "sample \(number)")
            let captions = try split.captions(at: number)
            XCTAssertEqual(captions.short, Self.sample(number, size: 4).short)
            XCTAssertEqual(captions.long, Self.sample(number, size: 4).long)
        }
        // Spot checks that the fixture exercises absent captions and both negative kinds.
        XCTAssertNil(try split.sample(at: 1).short)
        XCTAssertNil(try split.sample(at: 2).long)
        XCTAssertEqual(try split.sample(at: 5).negatives.count, 2)
        XCTAssertEqual(try split.sample(at: 0).negatives.count, 1)
        XCTAssertEqual(try split.sample(at: 3).negatives, [:])
        XCTAssertThrowsError(try split.sample(at: 10))
        XCTAssertTrue(errorText("unknown split") { _ = try dataset.split("eval") }.contains("no split 'eval'"))
    }

    func testCaptionStatisticsAreRecorded() throws {
        try writeSplit(count: 10)
        let captions = try Dataset.open(directory).description.splits["train"]!.captions
        // Numbers 0..<10: short absent for 1, 4, 7; long absent for 2, 6.
        XCTAssertEqual(captions.short.count, 7)
        XCTAssertEqual(captions.long.count, 8)
        XCTAssertEqual(captions.withBoth, 5)
        XCTAssertEqual(captions.short.maxWords, 3)
        XCTAssertEqual(captions.long.meanWords, 7)  // "a long caption for number N ünïcode"
        XCTAssertEqual(captions.negatives, ["swap_attribute": 2, "replace_object": 1])
    }

    func testIdenticalInputGivesByteIdenticalFiles() throws {
        let first = path("first"), second = path("second")
        try writeSplit(count: 9, size: 5, perShard: 4, into: first)
        // Time stamps have one-second resolution: a second later they would differ if stored.
        Thread.sleep(forTimeInterval: 1.1)
        try writeSplit(count: 9, size: 5, perShard: 4, into: second)
        for file in ["dataset.json", "train/shard-00000.h5", "train/shard-00001.h5", "train/shard-00002.h5"] {
            XCTAssertEqual(try bytes(file, in: first), try bytes(file, in: second), file)
        }
    }

    func testBatchReadsCrossShardBoundaries() throws {
        let size = 3, perImage = 3 * 3 * 3
        try writeSplit(count: 11, size: size, perShard: 4)
        let split = try Dataset.open(directory).split("train")
        // Runs inside a shard, runs crossing shards 0/1 and 1/2, reversed order, a duplicate.
        let batches = [[0, 1, 2, 3, 4, 5], [3, 4], [10, 9, 8, 7], [6, 2, 9, 2, 0], Array(0..<11), [7]]
        for indices in batches {
            var buffer = [UInt8](repeating: 0, count: indices.count * perImage)
            try buffer.withUnsafeMutableBufferPointer { try split.readImages(indices: indices, into: $0.baseAddress!) }
            let expected = indices.flatMap { Self.image($0, size: size) }
            XCTAssertEqual(buffer, expected, "batch \(indices)")
        }
        var buffer = [UInt8](repeating: 0, count: perImage)
        XCTAssertThrowsError(try buffer.withUnsafeMutableBufferPointer {
            try split.readImages(indices: [11], into: $0.baseAddress!)
        })
    }

    func testFewOpenShardsStillReadEverything() throws {
        try writeSplit(count: 12, size: 2, perShard: 2)
        let split = try Dataset.open(directory, maxOpenShards: 2).split("train")
        let indices = [11, 0, 5, 3, 8, 1, 10]
        var buffer = [UInt8](repeating: 0, count: indices.count * 12)
        try buffer.withUnsafeMutableBufferPointer { try split.readImages(indices: indices, into: $0.baseAddress!) }
        XCTAssertEqual(buffer, indices.flatMap { Self.image($0, size: 2) })
    }

    func testSeveralSplitsShareOneDirectory() throws {
        try writeSplit("train", count: 5)
        try writeSplit("eval", count: 3)
        let dataset = try Dataset.open(directory)
        XCTAssertEqual(dataset.splitNames, ["eval", "train"])
        XCTAssertEqual(try dataset.split("eval").count, 3)
        let again = errorText("second train split") { try writeSplit("train", count: 1) }
        XCTAssertTrue(again.contains("already holds a split 'train'"), again)
        let otherSize = errorText("other image size") { try writeSplit("test", count: 1, size: 8) }
        XCTAssertTrue(otherSize.contains("4-pixel images"), otherSize)
        XCTAssertTrue(errorText("bad split name") { try writeSplit("../up", count: 1) }.contains("plain name"))
    }

    func testInterruptedWriteLeavesNoCompleteSplit() throws {
        let writer = try ShardWriter(directory: directory, split: "train", imageSize: 2, samplesPerShard: 2)
        for number in 0..<3 { try writer.append(Self.sample(number, size: 2)) }
        // Killed here: one finished shard, one temporary file, and no dataset.json entry.
        let names = try FileManager.default.contentsOfDirectory(atPath: path("train")).sorted()
        XCTAssertEqual(names, ["shard-00000.h5", "shard-00001.h5.tmp"])
        XCTAssertTrue(errorText("open incomplete") { _ = try Dataset.open(directory) }.contains("dataset.json"))
        // A new import of the split clears the leftovers.
        try writeSplit("train", count: 1, size: 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("train")), ["shard-00000.h5"])
        let wrongSize = errorText("wrong image bytes") {
            let other = try ShardWriter(directory: path("x"), split: "train", imageSize: 2)
            try other.append(Sample(id: "a", image: [1, 2, 3], short: "s", long: nil))
        }
        XCTAssertTrue(wrongSize.contains("2x2x3 = 12"), wrongSize)
    }

    func testAbortRemovesWhatTheWriterMade() throws {
        let writer = try ShardWriter(directory: directory, split: "train", imageSize: 2, samplesPerShard: 2)
        for number in 0..<3 { try writer.append(Self.sample(number, size: 2)) }
        writer.abort()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("train")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("dataset.json")))
    }
}
