import Datasets
import Foundation
import Images
import TestSupport
import XCTest

/// Shards are sealed with a CRC-32 that dataset.json records; damage is found with plain file
/// I/O before libhdf5 opens the file (a zeroed page used to hang it, a flipped bit to crash it).
final class ShardIntegrityTests: DatasetTestCase {
    func shardPath(_ index: Int = 0) -> String { path("train/shard-0000\(index).h5") }

    func testDatasetJSONRecordsEachShardsChecksumAndSize() throws {
        let split = try writeSplit(count: 10, perShard: 4)
        XCTAssertEqual(split.shards.count, 3)
        for (index, shard) in split.shards.enumerated() {
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: shardPath(index))[.size] as? Int)
            XCTAssertEqual(shard.bytes, size)
            XCTAssertEqual(shard.crc32?.count, 8)
        }
        let json = try String(contentsOfFile: path(ShardSchema.descriptionFile), encoding: .utf8)
        XCTAssertTrue(json.contains("\"crc32\"") && json.contains("\"bytes\"") && json.contains("\"format_version\" : 2"), json)
        XCTAssertEqual(try Dataset.open(directory).split("train").count, 10)
    }

    func testFlippedBitsAndZeroedPagesAreCleanErrorsNamingTheShard() throws {
        try writeSplit(count: 8, size: 16, perShard: 8)
        let original = try bytes("train/shard-00000.h5")
        let damages: [(String, () throws -> Void)] = [
            ("bit in the superblock", { try FileDamage.flipBit(self.shardPath(), at: 530) }),
            ("bit in the middle", { try FileDamage.flipBit(self.shardPath(), at: original.count / 2) }),
            ("bit in the last byte", { try FileDamage.flipBit(self.shardPath(), at: -1, bit: 0x80) }),
            ("zeroed page", { try FileDamage.zeroPage(self.shardPath(), at: 4096) }),
            ("zeroed first page", { try FileDamage.zeroPage(self.shardPath(), at: 512) }),
        ]
        for (what, damage) in damages {
            try original.write(to: URL(fileURLWithPath: shardPath()))
            try damage()
            let text = errorText(what) { _ = try Dataset.open(directory) }
            XCTAssertTrue(text.contains(shardPath()) && text.contains("checksum mismatch: the file is damaged")
                          && text.contains("discern prepare"), "\(what): \(text)")
        }
        try original.write(to: URL(fileURLWithPath: shardPath()))
        XCTAssertEqual(try Dataset.open(directory).split("train").count, 8)
    }

    func testAShardThatDisagreesWithDatasetJSONIsRefused() throws {
        try writeSplit(count: 8, perShard: 8)
        try editDescription { json in
            var splits = json["splits"] as! [String: Any], train = splits["train"] as! [String: Any]
            var shards = train["shards"] as! [[String: Any]]
            shards[0]["crc32"] = "0badf00d"
            train["shards"] = shards; splits["train"] = train; json["splits"] = splits
        }
        let text = errorText("edited checksum") { _ = try Dataset.open(directory) }
        XCTAssertTrue(text.contains(shardPath()) && text.contains("dataset.json records crc32 0badf00d"), text)
    }

    func testFormat2DescriptionsMustRecordChecksums() throws {
        try writeSplit(count: 4, perShard: 4)
        try editDescription { json in
            var splits = json["splits"] as! [String: Any], train = splits["train"] as! [String: Any]
            var shards = train["shards"] as! [[String: Any]]
            shards[0].removeValue(forKey: "crc32")
            train["shards"] = shards; splits["train"] = train; json["splits"] = splits
        }
        let text = errorText("no checksum") { _ = try Dataset.open(directory) }
        XCTAssertTrue(text.contains("'crc32' must be 8 lowercase hex digits"), text)
    }

    /// A real full disk (1 MiB tmpfs): `prepare` fails with the reason and a non-zero exit, no
    /// signal death at exit, and leaves neither a .tmp shard nor a dataset.json.
    func testPrepareOnAFullDiskFailsCleanlyAndLeavesNoTemporaryShard() throws {
        let mount = try TmpfsMount(sizeKiB: 1024)
        defer { mount.unmount() }
        var random = SystemRandomNumberGenerator()
        var lines: [String] = []
        for index in 0..<40 {
            let pixels = (0..<(96 * 96 * 3)).map { _ in UInt8.random(in: 0...255, using: &random) }
            try writePNG(RGBImage(width: 96, height: 96, pixels: pixels), to: path("noise-\(index).png"))
            lines.append(#"{"image": "noise-\#(index).png", "short": "noise \#(index)"}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path("m.jsonl"), atomically: true, encoding: .utf8)
        let output = mount.path + "/data"
        let result = try runChild(try locateDiscern(), ["prepare", "--manifest", path("m.jsonl"), "--output", output, "--image-size", "96",
                                                        "--samples-per-shard", "8", "--deflate-level", "0"],
                                  environment: ProcessInfo.processInfo.environment, timeout: 120)
        XCTAssertFalse(result.timedOut, result.transcript)
        XCTAssertEqual(result.status, 1, "a clean error exits 1 (139 was a SIGSEGV at exit): \(result.transcript)")
        XCTAssertTrue(result.standardError.lowercased().contains("space"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "the output folder it created must go too: "
                       + "\((FileManager.default.enumerator(atPath: output)?.allObjects as? [String]) ?? [])")
    }
}
