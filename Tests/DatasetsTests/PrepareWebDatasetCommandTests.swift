import Datasets
import Foundation
import Images
import TestSupport
import XCTest

/// `discern prepare --webdataset` as a user runs it: brace patterns, the summary, skipped members
/// named on stderr, refusals before any work, and a rerun that finds the import already done.
extension PrepareCommandTests {
    private func writeShards() throws {
        try FileManager.default.createDirectory(atPath: path("shards"), withIntermediateDirectories: true)
        let png = try encodePNG(RGBImage(width: 10, height: 7, filledWith: (9, 99, 199)))
        try TarFixture.write([("a.png", png), ("a.json", TarFixture.text(#"{"caption": ["blue", "a blue box"]}"#)),
                              ("b.png", png), ("b.cls", TarFixture.text("3"))], to: path("shards/00.tar"))
        try TarFixture.write([("c.webp", try encodeWebPLossless(RGBImage(width: 9, height: 9, filledWith: (1, 2, 3)))),
                              ("c.txt", TarFixture.text("dark"))], to: path("shards/01.tar"))
    }

    func testWebDatasetSummarisesAndNamesSkippedMembers() throws {
        try writeShards()
        let result = try runDiscern(["prepare", "--webdataset", path("shards/{00..01}.tar"), "--output", path("out"),
                                     "--image-size", "6", "--caption-field", "caption"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Imported 2 samples"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Skipped 2 samples or members: 1 no caption, 1 unknown member."), result.stdout)
        XCTAssertTrue(result.stdout.contains("+ 1 more short (several per image)"), result.stdout)
        XCTAssertTrue(result.stderr.contains("shards/00.tar: b.cls: skipped (unknown member)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("samples/s"), result.stderr)
        XCTAssertEqual(try Dataset.open(path("out")).split("train").shortCaptions(at: 0), ["blue", "a blue box"])
    }

    func testWebDatasetRefusesMissingShardsAndBadRangesBeforeWriting() throws {
        try writeShards()
        let missing = try runDiscern(["prepare", "--webdataset", path("shards/{00..02}.tar"), "--output", path("out"), "--image-size", "6"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("shards/02.tar: does not exist: 1 of 3 shards are missing"), missing.stderr)
        let backwards = try runDiscern(["prepare", "--webdataset", path("shards/{01..00}.tar"), "--output", path("out"), "--image-size", "6"])
        XCTAssertNotEqual(backwards.status, 0)
        XCTAssertTrue(backwards.stderr.contains("runs backwards"), backwards.stderr)
        let both = try runDiscern(["prepare", "--webdataset", path("shards/00.tar"), "--manifest", path("m.jsonl"),
                                   "--output", path("out"), "--image-size", "6"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssertTrue(both.stderr.contains("give one source"), both.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out")), "nothing is written")
    }
}
