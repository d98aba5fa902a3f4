import Datasets
import Foundation
import XCTest

final class DatasetValidationTests: DatasetTestCase {
    func testMissingShardIsNamed() throws {
        try writeSplit(count: 10)
        try FileManager.default.removeItem(atPath: path("train/shard-00001.h5"))
        let message = errorText("missing shard") { _ = try Dataset.open(directory, verifyShards: false) }
        XCTAssertTrue(message.contains("train/shard-00001.h5") && message.contains("missing"), message)
    }

    func testShardCountMismatchIsNamed() throws {
        try writeSplit(count: 10)
        // dataset.json claims shard 1 holds 3 samples (and the total follows), the file holds 4.
        try editDescription { json in
            var splits = json["splits"] as! [String: Any]
            var train = splits["train"] as! [String: Any]
            var shards = train["shards"] as! [[String: Any]]
            shards[1]["count"] = 3
            train["shards"] = shards
            train["count"] = 9
            splits["train"] = train
            json["splits"] = splits
        }
        let message = errorText("count mismatch") { _ = try Dataset.open(directory) }
        XCTAssertTrue(message.contains("train/shard-00001.h5") && message.contains("says 3 samples"), message)
        // Without verification the same problem surfaces on first use of that shard, named the same.
        let split = try Dataset.open(directory, verifyShards: false).split("train")
        XCTAssertEqual(try split.sample(at: 0), Self.sample(0, size: 4))
        let late = errorText("late check") { _ = try split.sample(at: 5) }
        XCTAssertTrue(late.contains("train/shard-00001.h5"), late)
    }

    func testSplitTotalMustMatchShards() throws {
        try writeSplit(count: 10)
        try editDescription { json in
            var splits = json["splits"] as! [String: Any]
            var train = splits["train"] as! [String: Any]
            train["count"] = 11
            splits["train"] = train
            json["splits"] = splits
        }
        let message = errorText("total mismatch") { _ = try Dataset.open(directory) }
        XCTAssertTrue(message.contains("dataset.json") && message.contains("splits.train") && message.contains("11"),
                      message)
    }

    func testDescriptionProblemsAreNamed() throws {
        XCTAssertTrue(errorText("no dataset") { _ = try Dataset.open(directory) }.contains("not a Discern data set"))
        try writeSplit(count: 2)
        try editDescription { $0["format_version"] = 99 }
        XCTAssertTrue(errorText("new version") { _ = try Dataset.open(directory) }.contains("format_version"))
        try editDescription { $0["format_version"] = 1; $0.removeValue(forKey: "image_size") }
        let missingKey = errorText("missing key") { _ = try Dataset.open(directory) }
        XCTAssertTrue(missingKey.contains("image_size") && missingKey.contains("dataset.json"), missingKey)
    }

    func testShardFromAnotherDataSetIsRejected() throws {
        try writeSplit(count: 4, size: 4, perShard: 4)
        let other = path("other")
        try writeSplit(count: 4, size: 6, perShard: 4, into: other)
        try FileManager.default.removeItem(atPath: path("train/shard-00000.h5"))
        try FileManager.default.copyItem(atPath: (other as NSString).appendingPathComponent("train/shard-00000.h5"),
                                         toPath: path("train/shard-00000.h5"))
        let message = errorText("foreign shard") { _ = try Dataset.open(directory) }
        XCTAssertTrue(message.contains("6-pixel images"), message)
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: path("train/shard-00000.h5")))
        let corrupt = errorText("corrupt shard") { _ = try Dataset.open(directory) }
        XCTAssertTrue(corrupt.contains("train/shard-00000.h5") && corrupt.contains("not a readable shard"), corrupt)
    }
}
