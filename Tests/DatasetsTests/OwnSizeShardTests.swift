import Datasets
import Foundation
import HDF5Files
import Images
import XCTest

/// Format 3: every image kept at its own (smart-resized) size, read back exactly.
final class OwnSizeShardTests: DatasetTestCase {
    func testMixedSizesRoundTripAcrossShards() throws {
        for deflate in [1, nil] as [Int?] {
            try? FileManager.default.removeItem(atPath: path(ShardSchema.descriptionFile))
            let written = try writeOwnSplit(count: 8, perShard: 3, deflateLevel: deflate)
            XCTAssertEqual(written.shards.map(\.count), [3, 3, 2])
            let dataset = try Dataset.open(directory)
            XCTAssertEqual(dataset.layout, .own(Self.ownSizing))
            XCTAssertNil(dataset.imageSize)
            let split = try dataset.split("train")
            for number in 0..<8 {
                XCTAssertEqual(try split.sample(at: number), Self.ownSample(number), "sample \(number), deflate \(String(describing: deflate))")
                let size = try split.imageSize(at: number)
                XCTAssertEqual([size.width, size.height], [Self.ownSample(number).width, Self.ownSample(number).height])
            }
            // A batch in any order, across shard boundaries, repeated indices included.
            let batch = [7, 0, 3, 3, 5]
            let images = try split.images(at: batch)
            XCTAssertEqual(images, batch.map { let s = Self.ownSample($0); return RGBImage(width: s.width, height: s.height, pixels: s.image) })
            try FileManager.default.removeItem(atPath: path("train"))
        }
    }

    func testDescriptionAndShardRecordTheSizing() throws {
        try writeOwnSplit(count: 4)
        let json = try JSONSerialization.jsonObject(with: bytes(ShardSchema.descriptionFile)) as! [String: Any]
        XCTAssertEqual(json["format_version"] as? Int, 3)
        XCTAssertNil(json["image_size"])
        XCTAssertEqual(json["image_sizing"] as? [String: Int], ["factor": 4, "min_pixels": 64, "max_pixels": 400])
        let file = try H5File.open(path("train/shard-00000.h5"))
        defer { try? file.close() }
        XCTAssertEqual(try file.int64Attribute("format_version"), 3)
        XCTAssertEqual(try file.int64Attribute("image_factor"), 4)
        XCTAssertFalse(try file.hasAttribute("image_size"))
        XCTAssertEqual(try file.read("image_widths", as: Int64.self).values, [8, 12, 24])
        XCTAssertEqual(try file.read("image_heights", as: Int64.self).values, [8, 8, 12])
        XCTAssertEqual(try file.read("image_offsets", as: Int64.self).values, [0, 192, 480])
        XCTAssertEqual(try file.openDataset("pixels").shape, [480 + 24 * 12 * 3])
        XCTAssertEqual(try file.readRows("pixels", 192..<(192 + 288)), Self.ownSample(1).image)
    }

    func testTheSameSamplesGiveTheSameBytes() throws {
        try writeOwnSplit(count: 5)
        let first = try [ShardSchema.descriptionFile, "train/shard-00000.h5", "train/shard-00001.h5"].map { try bytes($0) }
        try FileManager.default.removeItem(atPath: path(ShardSchema.descriptionFile))
        try writeOwnSplit(count: 5)
        let second = try [ShardSchema.descriptionFile, "train/shard-00000.h5", "train/shard-00001.h5"].map { try bytes($0) }
        XCTAssertEqual(first, second)
    }

    func testFixedSizeReadingOfOwnSizeSplitIsAClearError() throws {
        try writeOwnSplit(count: 3)
        let split = try Dataset.open(directory).split("train")
        var buffer = [UInt8](repeating: 0, count: 1024)
        let message = errorText("fixed read") {
            try buffer.withUnsafeMutableBufferPointer { try split.readImages(indices: [0], into: $0.baseAddress!) }
        }
        XCTAssertTrue(message.contains("images(at:)") && message.contains("own sizes"), message)
    }

    func testFixedSizeSamplesCarryTheSplitsSizeAndReadAsImages() throws {
        try writeSplit(count: 6, size: 4)
        let json = try String(contentsOfFile: path(ShardSchema.descriptionFile), encoding: .utf8)
        XCTAssertTrue(json.contains("\"format_version\" : 2") && json.contains("\"image_size\" : 4") && !json.contains("image_sizing"), json)
        let split = try Dataset.open(directory).split("train")
        let sample = try split.sample(at: 5)
        XCTAssertEqual([sample.width, sample.height], [4, 4])
        XCTAssertEqual(try split.images(at: [5, 1]), [5, 1].map { RGBImage(width: 4, height: 4, pixels: Self.image($0, size: 4)) })
        XCTAssertEqual(try split.imageSize(at: 2).width, 4)
    }

    func testWriterRefusesImagesTheSizingCannotHold() throws {
        let writer = try ShardWriter(directory: directory, split: "train", layout: .own(Self.ownSizing))
        defer { writer.abort() }
        var sample = Self.ownSample(0)
        let cases: [(Int, Int, Int?, String)] = [
            (6, 8, nil, "multiples of the factor 4"), (0, 8, 0, "empty"), (4000, 4, nil, "more than smart_resize makes"),
            (8, 8, 10, "has 10 image bytes; 8 x 8 x 3 = 192"),
        ]
        for (width, height, bytes, expected) in cases {
            (sample.width, sample.height) = (width, height)
            sample.image = [UInt8](repeating: 1, count: bytes ?? width * height * 3)
            let message = errorText("\(width) x \(height)") { try writer.append(sample) }
            XCTAssertTrue(message.contains("sample 'sample-0'") && message.contains(expected), message)
        }
        let fixed = errorText("fixed writer, wrong size") {
            let other = try ShardWriter(directory: path("fixed"), split: "train", imageSize: 2)
            try other.append(Sample(id: "a", image: [UInt8](repeating: 0, count: 12), width: 1, height: 4, short: "s", long: nil))
        }
        XCTAssertTrue(fixed.contains("1 x 4 pixels") && fixed.contains("2x2"), fixed)
    }

    func testLayoutsDoNotMixInOneDirectory() throws {
        try writeSplit("train", count: 2, size: 4)
        let own = errorText("own into fixed") { try writeOwnSplit("eval", count: 1) }
        XCTAssertTrue(own.contains("holds 4-pixel images") && own.contains("own sizes"), own)
        try FileManager.default.removeItem(atPath: path(ShardSchema.descriptionFile))
        try writeOwnSplit("train", count: 2)
        let fixed = errorText("fixed into own") { try writeSplit("eval", count: 1, size: 4) }
        XCTAssertTrue(fixed.contains("holds images at their own sizes") && fixed.contains("4-pixel images"), fixed)
    }

    func testDescriptionLayoutKeysAreChecked() throws {
        try writeOwnSplit(count: 2)
        let edits: [(String, ([String: Any]) -> [String: Any])] = [
            ("'image_size' must be absent", { var j = $0; j["image_size"] = 8; return j }),
            ("'image_sizing' is missing", { var j = $0; j.removeValue(forKey: "image_sizing"); return j }),
            ("'factor' is 0", { var j = $0; j["image_sizing"] = ["factor": 0, "min_pixels": 64, "max_pixels": 400]; return j }),
            ("min_pixels <= max_pixels", { var j = $0; j["image_sizing"] = ["factor": 4, "min_pixels": 500, "max_pixels": 400]; return j }),
            ("needs format_version 3", { var j = $0; j["format_version"] = 2; j["image_size"] = 8; return j }),
        ]
        let original = try bytes(ShardSchema.descriptionFile)
        for (expected, edit) in edits {
            try original.write(to: URL(fileURLWithPath: path(ShardSchema.descriptionFile)))
            try editDescription { $0 = edit($0) }
            let message = errorText(expected) { _ = try Dataset.open(directory) }
            XCTAssertTrue(message.contains("dataset.json") && message.contains(expected), message)
        }
    }
}

private extension H5File {
    func readRows(_ name: String, _ rows: Range<Int>) throws -> [UInt8] {
        try openDataset(name).readRows(rows, as: UInt8.self).values
    }
}
