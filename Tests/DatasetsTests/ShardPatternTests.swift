import DataImport
import Foundation
import XCTest

/// Brace expansion of webdataset shard lists, and the checks made before any work.
final class ShardPatternTests: DatasetTestCase {
    func testRangesAndListsExpandInOrder() throws {
        XCTAssertEqual(try ShardPattern.expand("s/{00000..00002}.tar"), ["s/00000.tar", "s/00001.tar", "s/00002.tar"])
        XCTAssertEqual(try ShardPattern.expand("{8..10}"), ["8", "9", "10"])
        XCTAssertEqual(try ShardPattern.expand("{08..10}"), ["08", "09", "10"])
        XCTAssertEqual(try ShardPattern.expand("{7..7}.tar"), ["7.tar"])
        XCTAssertEqual(try ShardPattern.expand("a{0..1}b{x,y}"), ["a0bx", "a0by", "a1bx", "a1by"])
        XCTAssertEqual(try ShardPattern.expand("plain.tar"), ["plain.tar"])
    }

    func testMalformedPatternsAreNamed() {
        let cases: [(String, String)] = [
            ("s/{3..1}.tar", "runs backwards"), ("{a..b}", "two non-negative whole numbers"), ("{1..}", "two non-negative"),
            ("{-1..3}", "two non-negative"), ("x{1..2", "without its '}'"), ("x}1", "without its '{'"),
            ("{}", "neither a range"), ("{a,,b}", "empty alternative"), ("{1{2..3}}", "cannot be nested"),
            ("{0..1000000}", "more than 1000000"),
        ]
        for (pattern, expected) in cases {
            XCTAssertThrowsError(try ShardPattern.expand(pattern), pattern) { error in
                XCTAssertTrue("\(error)".hasPrefix("\(pattern): bad shard pattern") && "\(error)".contains(expected), "\(error)")
            }
        }
    }

    func testMissingAndRepeatedShardsAreRefusedBeforeAnyWork() throws {
        for name in ["00000.tar", "00002.tar"] { try Data().write(to: URL(fileURLWithPath: path(name))) }
        let paths = try ShardPattern.expandAll([path("{00000..00003}.tar")])
        let missing = errorText("missing") { try ShardPattern.requireShardsExist(paths) }
        XCTAssertTrue(missing.hasPrefix(path("00001.tar")) && missing.contains("2 of 4 shards are missing")
                      && missing.contains(path("00003.tar")), missing)
        let twice = errorText("twice") { _ = try ShardPattern.expandAll([self.path("{00000..00002}.tar"), self.path("00002.tar")]) }
        XCTAssertTrue(twice.contains("listed twice"), twice)
        let folder = errorText("folder") { try ShardPattern.requireShardsExist([self.directory]) }
        XCTAssertTrue(folder.contains("is a folder"), folder)
    }
}
