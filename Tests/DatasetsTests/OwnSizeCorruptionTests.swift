import Datasets
import Foundation
import HDF5Files
import XCTest

/// Every value of a format 3 shard's image index comes from a file: damage that keeps the file
/// readable (re-sealed, so the checksum cannot catch it) is refused with the file, dataset and
/// row named, before any image is allocated; truncation is caught by the seal. Nothing traps.
final class OwnSizeCorruptionTests: DatasetTestCase {
    private let shard = "train/shard-00000.h5"

    /// Edits shard 0 in place, then seals it again and records the new seal in dataset.json, as
    /// a tool that rewrote the shard would.
    private func rewriteShard(_ edit: (H5File) throws -> Void) throws {
        let file = try H5File.open(path(shard), mode: .readWrite)
        try edit(file)
        try file.close()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path(shard)))
        try handle.write(contentsOf: Data(count: FileSeal.blockSize))
        try handle.close()
        let seal = try FileSeal.seal(path(shard))
        try editTrainSplit { train in
            var shards = train["shards"] as! [[String: Any]]
            shards[0]["crc32"] = seal.crc32Hex
            shards[0]["bytes"] = seal.fileBytes
            train["shards"] = shards
        }
    }

    private func write(_ values: [Int64], to name: String, at row: Int) -> (H5File) throws -> Void {
        { try $0.openDataset(name).writeRows(values, startingAt: row) }
    }

    func testDamagedIndexValuesAreNamedByDatasetAndRow() throws {
        try writeOwnSplit(count: 6, perShard: 3)
        let original = try bytes(shard), description = try bytes(ShardSchema.descriptionFile)
        let cases: [(String, (H5File) throws -> Void, [String])] = [
            ("zero height", write([0], to: "image_heights", at: 1), ["row 1", "image_heights", "empty"]),
            ("negative width", write([-8], to: "image_widths", at: 0), ["row 0", "image_widths", "empty"]),
            ("odd width", write([10], to: "image_widths", at: 2), ["row 2", "multiples of the factor 4"]),
            ("huge height", write([1 << 40], to: "image_heights", at: 0), ["row 0", "more than smart_resize makes"]),
            ("huge both", write([Int64.max - 3], to: "image_heights", at: 0) , ["row 0"]),
            ("shifted offset", write([195], to: "image_offsets", at: 1), ["row 1", "image_offsets", "is 195", "end at byte 192"]),
            ("first offset", write([4], to: "image_offsets", at: 0), ["row 0", "image_offsets"]),
            // The shard's images: 8 x 8, 12 x 8 and 24 x 12 at offsets 0, 192, 480; 1344 bytes.
            ("larger image", write([24], to: "image_heights", at: 2), ["row 2", "ends at byte 2208", "holds 1344 bytes"]),
            ("smaller image", write([4], to: "image_heights", at: 2), ["images end at byte 768", "holds 1344 bytes"]),
            ("short pixels", { try $0.openDataset("pixels").resizeRows(to: 700) }, ["row 2", "holds 700 bytes"]),
            ("long pixels", { try $0.openDataset("pixels").resizeRows(to: 1400) }, ["images end at byte 1344", "holds 1400 bytes"]),
        ]
        for (what, edit, expected) in cases {
            try original.write(to: URL(fileURLWithPath: path(shard)))
            try description.write(to: URL(fileURLWithPath: path(ShardSchema.descriptionFile)))
            try rewriteShard(edit)
            for verify in [true, false] {
                let message = errorText(what) {
                    let split = try Dataset.open(directory, verifyShards: verify).split("train")
                    _ = try split.images(at: [0])
                }
                XCTAssertTrue(message.contains(path(shard)) && expected.allSatisfy(message.contains), "\(what): \(message)")
            }
        }
    }

    func testMissingOrMisshapedIndexColumnsAndAttributesAreRefused() throws {
        try writeOwnSplit(count: 3, perShard: 3)
        let original = try bytes(shard), description = try bytes(ShardSchema.descriptionFile)
        let cases: [(String, (H5File) throws -> Void, String)] = [
            ("other factor", { try $0.setAttribute("image_factor", .int64(2)) }, "belongs to another data set"),
            ("fixed version", { try $0.setAttribute("format_version", .int64(2)) }, "format_version 2 shard"),
            ("future version", { try $0.setAttribute("format_version", .int64(4)) }, "format_version 4 is not supported"),
        ]
        for (what, edit, expected) in cases {
            try original.write(to: URL(fileURLWithPath: path(shard)))
            try description.write(to: URL(fileURLWithPath: path(ShardSchema.descriptionFile)))
            try rewriteShard(edit)
            let message = errorText(what) { _ = try Dataset.open(directory) }
            XCTAssertTrue(message.contains(path(shard)) && message.contains(expected), "\(what): \(message)")
        }
        // A column of the wrong length: the shard is rebuilt without /image_widths' last row.
        try original.write(to: URL(fileURLWithPath: path(shard)))
        try description.write(to: URL(fileURLWithPath: path(ShardSchema.descriptionFile)))
        try rebuildShard(widths: [8, 12])
        let short = errorText("short widths") { _ = try Dataset.open(directory) }
        XCTAssertTrue(short.contains("'/image_widths' has shape [2]") && short.contains("3 samples"), short)
    }

    func testTruncatedShardIsACleanChecksumError() throws {
        try writeOwnSplit(count: 6, perShard: 3)
        let original = try bytes(shard)
        for keep in [original.count - 1, original.count / 2, 600, 100] {
            try original.prefix(keep).write(to: URL(fileURLWithPath: path(shard)))
            let message = errorText("truncated to \(keep)") { _ = try Dataset.open(directory) }
            XCTAssertTrue(message.contains(path(shard)) && message.contains("discern prepare"), "\(keep): \(message)")
        }
    }

    /// Shard 0 written again by hand from its own columns, with `widths` instead of its widths.
    private func rebuildShard(widths: [Int64]) throws {
        let old = try H5File.open(path(shard))
        let strings = try ["ids", "short", "long"].map { try old.readStrings($0).values }
        let flags = try ["has_short", "has_long"].map { try old.read($0, as: UInt8.self).values }
        let pixels = try old.read("pixels", as: UInt8.self).values
        let offsets = try old.read("image_offsets", as: Int64.self).values, heights = try old.read("image_heights", as: Int64.self).values
        let attributes = try ["format_version", "image_factor", "image_min_pixels", "image_max_pixels"].map { try old.int64Attribute($0) }
        try old.close()
        let file = try H5File.create(path(shard), userBlock: true)
        for (name, values) in zip(["ids", "short", "long"], strings) { try file.write(values, to: name) }
        for (name, values) in zip(["has_short", "has_long"], flags) { try file.write(values, to: name) }
        try file.write(pixels, to: "pixels")
        for (name, values) in [("image_offsets", offsets), ("image_heights", heights), ("image_widths", widths)] {
            try file.write(values, to: name)
        }
        for (name, value) in zip(["format_version", "image_factor", "image_min_pixels", "image_max_pixels"], attributes) {
            try file.setAttribute(name, .int64(value))
        }
        try file.setAttribute("split", .string("train"))
        try file.close()
        try rewriteShard { _ in }
    }
}
