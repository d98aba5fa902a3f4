import Evaluation
import Foundation
import HDF5Files
import Images
import Kernels
import ModelFiles
import TestSupport
import XCTest

/// `discern embed --webdataset` as a user runs it on tar shards, alone and under real mpirun:
/// samples are grouped as `prepare` groups them, bad ones are skipped and listed, the file does
/// not depend on the rank count, damaged shards are noted (or, with --strict, stop the run).
final class WebDatasetEmbedTests: XCTestCase {
    static let model = EmbedTests.model.path
    var folder: URL!
    let chunking = ["--chunk-size", "4", "--batch-size", "3"]

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-wds-embed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func image(_ seed: UInt64, side: Int = 14) -> RGBImage {
        var random = Xoshiro256(seed: seed)
        return RGBImage(width: side, height: side, pixels: (0..<side * side * 3).map { _ in UInt8(random.next() % 256) })
    }

    /// What a sample of the shards below is: its key, image (nil: none, or bytes that do not
    /// decode) and the captions `embed` takes from it.
    struct Planned {
        let key: String
        let image: RGBImage?
        let captions: [String]
        var skipReason: String?
    }

    /// Three shards: a plain one, a gzip-compressed one with a sample without an image, one whose
    /// image does not decode and one whose .json holds a list of captions, and a third with a
    /// member that belongs to no sample and a sample with no caption at all.
    func writeShards() throws -> [Planned] {
        var planned: [Planned] = []
        var members: [[(name: String, data: [UInt8])]] = [[], [], []]
        for shard in 0..<3 {
            for k in 0..<(shard == 1 ? 6 : 4) {
                let key = String(format: "%02d%04d", shard, k)
                var captions = ["a picture of \(key)"]
                if shard == 1, k == 2 {   // no image: skipped
                    members[shard].append((key + ".txt", TarFixture.text(captions[0])))
                    planned.append(Planned(key: key, image: nil, captions: [], skipReason: "missing image"))
                    continue
                }
                if shard == 1, k == 4 {   // bytes that are no image: skipped
                    members[shard].append((key + ".jpg", TarFixture.text("not a jpeg")))
                    members[shard].append((key + ".txt", TarFixture.text(captions[0])))
                    planned.append(Planned(key: key, image: nil, captions: [], skipReason: "unreadable image"))
                    continue
                }
                let picture = image(UInt64(10 * shard + k), side: 12 + k)
                members[shard].append((key + ".png", try encodePNG(picture)))
                if shard == 1, k == 1 {   // the .json's list wins over the .txt
                    captions = ["first of \(key)", "second of \(key)"]
                    members[shard].append((key + ".txt", TarFixture.text("ignored")))
                } else if shard == 2, k == 3 {
                    captions = []   // no caption: the image alone
                } else {
                    members[shard].append((key + ".txt", TarFixture.text(captions[0] + "\n")))
                }
                let json = shard == 1 && k == 1 ? #"{"captions": ["first of \#(key)", "second of \#(key)"]}"# : #"{"width": 14}"#
                members[shard].append((key + ".json", TarFixture.text(json)))
                planned.append(Planned(key: key, image: picture, captions: captions))
            }
        }
        members[2].insert(("README", TarFixture.text("made by the tests")), at: 1)
        for (shard, list) in members.enumerated() {
            try TarFixture.write(list, to: folder.appendingPathComponent("shard-\(shard).tar").path, gzip: shard == 1)
        }
        return planned
    }

    var pattern: String { folder.appendingPathComponent("shard-{0..2}.tar").path }

    func embed(_ input: [String], output: String, ranks: Int, extra: [String] = []) throws -> ChildResult {
        let arguments = ["embed", "--model", Self.model] + input + ["--output", folder.appendingPathComponent(output).path] + chunking + extra
        return ranks == 0 ? try runChild(try locateDiscern(), arguments, environment: childEnvironment, timeout: 120)
                          : try runMPIJob(ranks: ranks, executable: try locateDiscern(), arguments: arguments, timeout: 120)
    }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: folder.appendingPathComponent(name)) }

    func testShardsOnOneTwoAndThreeRanksWriteTheSameFile() throws {
        let planned = try writeShards()
        let input = ["--webdataset", pattern, "--caption-field", "captions"]
        for ranks in [0, 2, 3] {
            let result = try embed(input, output: "ranks-\(ranks).h5", ranks: ranks)
            XCTAssertEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardOutput.contains("wrote 12 items (48 wide)"), result.transcript)
            XCTAssertTrue(result.standardOutput.contains("skipped 2 samples that could not be embedded"), result.transcript)
            XCTAssertTrue(result.standardOutput.contains("shard-1.tar: 010002: missing image"), result.transcript)
            XCTAssertTrue(result.standardOutput.contains("shard-1.tar: 010004.jpg: unreadable image"), result.transcript)
            XCTAssertTrue(result.standardError.contains("note: ignored 1 tar members that belong to no sample"), result.transcript)
            XCTAssertEqual(result.standardError.components(separatedBy: "compute: fp32").count, 2, "one compute line: \(result.transcript)")
        }
        XCTAssertEqual(try bytes("ranks-2.h5"), try bytes("ranks-0.h5"), "2 ranks wrote other bytes than one process")
        XCTAssertEqual(try bytes("ranks-3.h5"), try bytes("ranks-0.h5"), "3 ranks wrote other bytes than one process")

        let file = try H5File.open(folder.appendingPathComponent("ranks-0.h5").path)
        let embedded = planned.filter { $0.skipReason == nil }
        XCTAssertEqual(try file.readStrings("/ids").values, embedded.map(\.key))
        let captions = embedded.enumerated().flatMap { row, item in item.captions.map { (row: Int64(row), text: $0) } }
        XCTAssertEqual(try file.readStrings("/texts").values, captions.map(\.text))
        XCTAssertEqual(try file.read("/text_items", as: Int64.self).values, captions.map(\.row), "rows of /ids, after the skipped samples")
        XCTAssertEqual(try file.readStrings("/skipped_ids").values, ["010002", "010004"])
        let reasons = try file.readStrings("/skipped_reasons").values
        XCTAssertTrue(reasons[0].contains("missing image") && reasons[1].contains("unreadable image"), "\(reasons)")
        XCTAssertTrue(try file.stringAttribute("source").contains("(14 items, digest "))

        let embedder = try Embedder(directory: try ModelDirectory(path: Self.model), batchSize: 3)
        let images = try embedder.embedImages(embedded.map { $0.image! })
        let texts = try embedder.embedTexts(captions.map(\.text))
        let storedImages = try file.read("/image_embeddings", as: Float.self), storedTexts = try file.read("/text_embeddings", as: Float.self)
        XCTAssertEqual(storedImages.shape, [12, 48])
        XCTAssertLessThanOrEqual(zip(storedImages.values, images).map { abs($0 - $1) }.max()!, EmbedTests.tolerance)
        XCTAssertLessThanOrEqual(zip(storedTexts.values, texts).map { abs($0 - $1) }.max()!, EmbedTests.tolerance)

        let again = try embed(input, output: "ranks-0.h5", ranks: 2)
        XCTAssertTrue(again.standardOutput.contains("is up to date (14 items"), again.transcript)
        // Another caption field is another input: embedded again, with the .txt caption of 010001.
        let other = try embed(["--webdataset", pattern], output: "ranks-0.h5", ranks: 2)
        XCTAssertEqual(other.status, 0, other.transcript)
        XCTAssertTrue(try H5File.open(folder.appendingPathComponent("ranks-0.h5").path).readStrings("/texts").values.contains("ignored"))
    }

    /// A shard cut short in a member: the samples before it are embedded and a note says so;
    /// with --strict the run stops naming the shard, and so does a bad sample. No output file.
    func testDamagedShardIsNotedAndStrictStops() throws {
        _ = try writeShards()
        let whole = try bytes("shard-0.tar")
        // Cut inside the third sample's image (ustar: 512-byte header, then data padded to 512).
        var offset = 0, cut = 0
        let reader = whole.withUnsafeBytes { Array($0) }
        for _ in 0..<7 {   // 0000.png .txt .json, 0001.png .txt .json, 0002.png
            let size = Int(String(decoding: reader[(offset + 124)..<(offset + 135)], as: UTF8.self), radix: 8)!
            cut = offset + 512 + size / 2
            offset += 512 + (size + 511) / 512 * 512
        }
        try whole.prefix(cut).write(to: folder.appendingPathComponent("shard-0.tar"))
        let result = try embed(["--webdataset", pattern], output: "damaged.h5", ranks: 2)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("shard-0.tar is damaged after its first 2 samples"), result.transcript)
        XCTAssertTrue(result.standardOutput.contains("wrote 10 items"), result.transcript)

        for ranks in [0, 2] {
            let strict = try embed(["--webdataset", pattern, "--strict"], output: "strict.h5", ranks: ranks)
            XCTAssertNotEqual(strict.status, 0, strict.transcript)
            XCTAssertTrue(strict.standardError.contains("shard-0.tar: damaged after its first 2 samples: member '000002.png'"), strict.transcript)
            XCTAssertTrue(strict.standardError.contains("--strict stops at a damaged shard"), strict.transcript)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("strict.h5").path))
        }
        try whole.write(to: folder.appendingPathComponent("shard-0.tar"))
        let bad = try embed(["--webdataset", pattern, "--strict"], output: "strict.h5", ranks: 2)
        XCTAssertNotEqual(bad.status, 0, bad.transcript)
        XCTAssertTrue(bad.standardError.contains("shard-1.tar: 010002: missing image"), bad.transcript)
        XCTAssertTrue(bad.standardError.contains("--strict stops at the first sample that cannot be embedded"), bad.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("strict.h5").path))
    }

    func testBadShardListsAreClearErrors() throws {
        _ = try writeShards()
        let notTar = folder.appendingPathComponent("notes.tar")
        try Data("just text, no tar".utf8).write(to: notTar)
        let cases: [([String], String)] = [
            (["--webdataset", folder.appendingPathComponent("shard-{0..5}.tar").path], "3 of 6 shards are missing"),
            (["--webdataset", folder.appendingPathComponent("shard-{2..0}.tar").path], "runs backwards"),
            (["--webdataset", notTar.path], "hold no sample"),
            (["--webdataset", pattern, "--manifest", "x.jsonl"], "give one corpus"),
            (["--data", folder.path, "--caption-field", "c"], "apply to --webdataset shards"),
        ]
        // Argument errors are each rank's own; the others are printed once.
        try assertEachFailsCleanly(cases, leaving: folder.appendingPathComponent("bad.h5"), printedOnce: { !$0.contains("give one") && !$0.contains("apply to") }) {
            try embed($0, output: "bad.h5", ranks: $1)
        }
    }
}
