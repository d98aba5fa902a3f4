import Datasets
import HDF5Files
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
        try editTrainSplit { train in
            var shards = train["shards"] as! [[String: Any]]
            shards[1]["count"] = 3
            train["shards"] = shards
            train["count"] = 9
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
        try editTrainSplit { $0["count"] = 11 }
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

/// dataset.json and the shards must agree on what they hold, and its numbers are bounded before
/// they are used.
final class DatasetAgreementTests: DatasetTestCase {
    func testCaptionCountsMustMatchTheShards() throws {
        try writeSplit(count: 10)
        try editTrainSplit { train in
            var captions = train["captions"] as! [String: Any]
            var short = captions["short"] as! [String: Any]
            short["count"] = (short["count"] as! Int) + 1
            captions["short"] = short
            train["captions"] = captions
        }
        let short = errorText("short count") { _ = try Dataset.open(directory) }
        XCTAssertTrue(short.contains("dataset.json") && short.contains("short captions") && short.contains("disagree"), short)
    }

    func testNegativesListedButMissingFromTheShardsAreRefused() throws {
        try writeSplit(count: 10)
        try editTrainSplit { train in
            var captions = train["captions"] as! [String: Any]
            var negatives = captions["negatives"] as! [String: Any]
            negatives["replace_relation"] = 4
            captions["negatives"] = negatives
            train["captions"] = captions
        }
        let message = errorText("missing negatives") { _ = try Dataset.open(directory) }
        XCTAssertTrue(message.contains("'replace_relation' hard negatives") && message.contains("lists 4")
                      && message.contains("hold 0"), message)
    }

    /// dataset.json goes through the one strict parser: JSONDecoder alone kept one of two equal
    /// keys and accepted a trailing comma.
    func testDescriptionMustBeStrictJSON() throws {
        try writeSplit(count: 4)
        let file = URL(fileURLWithPath: path(ShardSchema.descriptionFile))
        let valid = try String(contentsOf: file, encoding: .utf8)
        let duplicateKey = valid.replacingOccurrences(of: "\"image_size\"", with: "\"image_size\" : 4, \"image_size\"")
        let trailingComma = String(valid.dropLast(2)) + ",}\n"
        for (broken, expected) in [(duplicateKey, "image_size"), (trailingComma, "expected a string key")] {
            try Data(broken.utf8).write(to: file)
            let message = errorText("strict JSON") { _ = try Dataset.open(directory) }
            XCTAssertTrue(message.contains("dataset.json") && message.contains("not a valid data set description")
                          && message.contains(expected), message)
        }
    }

    func testShardListedTwiceIsRefused() throws {
        try writeSplit(count: 8)
        try editTrainSplit { train in
            var shards = train["shards"] as! [[String: Any]]
            shards.append(shards[0])
            train["shards"] = shards
            train["count"] = 12
        }
        let message = errorText("twice") { _ = try Dataset.open(directory, verifyShards: false) }
        XCTAssertTrue(message.contains("train/shard-00000.h5") && message.contains("listed twice"), message)
    }

    func testAbsurdCountsAreRefusedWithoutOverflow() throws {
        try writeSplit(count: 8)
        try editTrainSplit { train in
            var shards = train["shards"] as! [[String: Any]]
            shards[0]["count"] = Int.max
            shards[1]["count"] = Int.max
            train["shards"] = shards
        }
        let message = errorText("huge count") { _ = try Dataset.open(directory, verifyShards: false) }
        XCTAssertTrue(message.contains("train/shard-00000.h5") && message.contains("count from 1 to"), message)
    }

    /// docs/data.md: an empty caption is absent everywhere, even with its flag set (a shard
    /// written by another tool may do that).
    func testEmptyCaptionFlaggedPresentReadsAsAbsent() throws {
        try writeSplit(count: 4, perShard: 4)
        let shard = path("train/shard-00000.h5")
        try FileManager.default.removeItem(atPath: shard)
        let file = try H5File.create(shard)
        try file.write((0..<4).flatMap { Self.image($0, size: 4) }, shape: [4, 4, 4, 3], to: "/images")
        try file.write((0..<4).map { "s\($0)" }, to: "/ids")
        try file.write(["", "short 1", "", "short 3"], to: "/short")
        try file.write(["long 0", "", "", "long 3"], to: "/long")
        try file.write([UInt8](repeating: 1, count: 4), to: "/has_short")
        try file.write([UInt8](repeating: 1, count: 4), to: "/has_long")
        try file.setAttribute("format_version", .int64(1))
        try file.setAttribute("image_size", .int64(4))
        try file.setAttribute("split", .string("train"))
        try file.close()
        try editTrainSplit { train in
            var captions = train["captions"] as! [String: Any]
            for (kind, count) in [("short", 2), ("long", 2)] {
                var lengths = captions[kind] as! [String: Any]
                lengths["count"] = count
                captions[kind] = lengths
            }
            captions["negatives"] = [String: Int]()
            train["captions"] = captions
            // Written like a format 1 shard from before checksums (another tool's), so unsealed.
            train["shards"] = (train["shards"] as! [[String: Any]]).map { $0.filter { $0.key != "crc32" && $0.key != "bytes" } }
        }
        try editDescription { $0["format_version"] = 1 }
        // An unsealed shard is opened only when the user allows it.
        let refused = errorText("unsealed") { _ = try Dataset.open(directory) }
        XCTAssertTrue(refused.contains("shard-00000.h5") && refused.contains("carries no checksum seal"), refused)
        setenv("DISCERN_READ_UNSEALED", "1", 1)
        defer { unsetenv("DISCERN_READ_UNSEALED") }
        let split = try Dataset.open(directory).split("train")
        XCTAssertEqual(try split.captions(at: 0).short, nil)
        XCTAssertEqual(try split.captions(at: 1).long, nil)
        XCTAssertEqual(try split.sample(at: 2).short, nil)
        XCTAssertEqual(try split.captions(at: 3).short, "short 3")
    }
}
