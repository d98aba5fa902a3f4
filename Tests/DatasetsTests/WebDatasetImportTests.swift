import DataImport
import Datasets
import Foundation
import Images
import TestSupport
import XCTest

/// `importWebDataset` on tar shards the tests write: grouping, captions from .txt and .json,
/// every kind of bad sample or member counted, truncated tars, strictness, and a restart after an
/// interruption that ends with the same data set as an uninterrupted import.
final class WebDatasetImportTests: DatasetTestCase {
    private static func picture(_ seed: Int) -> RGBImage {
        RGBImage(width: 8, height: 8, pixels: (0..<192).map { UInt8(truncatingIfNeeded: $0 &* 5 &+ seed &* 41) })
    }

    private static let fields = WebDatasetCaptionFields(short: "caption", long: "long")

    private func options(strict: Bool = false) -> WebDatasetImportOptions {
        WebDatasetImportOptions(ManifestImportOptions(imageSize: 8, samplesPerShard: 2, strict: strict, threads: 2),
                                captionFields: Self.fields)
    }

    /// Shard 0: good .txt and .json samples, a sample without caption, a corrupt image, a WebP with
    /// an unknown .cls member, a member without extension. Shard 1: a good sample in a folder and
    /// a caption without image.
    private func writeMixedShards() throws -> [String] {
        let png = { (seed: Int) in try encodePNG(Self.picture(seed)) }
        try TarFixture.write([
            ("000.png", try png(0)), ("000.txt", TarFixture.text("a red square\n")),
            ("001.png", try png(1)), ("001.json", TarFixture.text(#"{"caption": ["one cat", "a cat"], "long": "a long caption", "url": "x"}"#)),
            ("002.png", try png(2)), ("002.json", TarFixture.text(#"{"url": "no caption here"}"#)),
            ("003.png", Array(try png(3).prefix(50))), ("003.txt", TarFixture.text("cut short")),
            ("004.cls", TarFixture.text("7")), ("004.webp", try encodeWebPLossless(Self.picture(4))),
            ("004.txt", TarFixture.text("a webp picture")),
            ("README", TarFixture.text("not a sample")),
        ], to: path("a.tar"))
        try TarFixture.write([
            ("part/005.seg.png", TarFixture.text("x")), ("part/005.PNG", try png(4)), ("part/005.txt", TarFixture.text("the webp's pixels")),
            ("006.txt", TarFixture.text("an orphan caption")),
        ], to: path("b.tar"))
        return [path("a.tar"), path("b.tar")]
    }

    func testImportsGoodSamplesAndCountsEveryBadOne() throws {
        var reported: [WebDatasetIssue] = []
        let summary = try importWebDataset(try writeMixedShards(), into: path("out"), options: options(),
                                           onIssue: { reported.append($0) })
        XCTAssertEqual(summary.imported, 4)
        XCTAssertEqual(reported, summary.issues)
        // In archive order: member problems where they are met, sample problems where the sample ends.
        XCTAssertEqual(summary.issues.map(\.kind), [.noCaption, .corruptImage, .unknownMember, .unknownMember,
                                                    .unknownMember, .missingImage])
        XCTAssertEqual(summary.issues.map(\.member), ["002", "003.png", "README", "004.cls", "part/005.seg.png", "006"])
        XCTAssertEqual(summary.count(.unknownMember), 3)
        let split = try Dataset.open(path("out")).split("train")
        XCTAssertEqual(split.count, 4)
        XCTAssertEqual(try (0..<4).map { try split.sample(at: $0).id }, ["000", "001", "004", "part/005"])
        XCTAssertEqual(try split.shortCaptions(at: 0), ["a red square"])
        XCTAssertEqual(try split.shortCaptions(at: 1), ["one cat", "a cat"])
        XCTAssertEqual(try split.captions(at: 1).long, "a long caption")
        // The WebP and the PNG of the same pixels store the same image.
        XCTAssertEqual(try split.sample(at: 2).image, try split.sample(at: 3).image)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out/.webdataset-train")), "staging is removed when done")
    }

    func testTruncatedShardKeepsTheSamplesBeforeTheDamage() throws {
        try TarFixture.write([("0.png", try encodePNG(Self.picture(0))), ("0.txt", TarFixture.text("first")),
                              ("1.png", try encodePNG(Self.picture(1))), ("1.txt", TarFixture.text("second"))], to: path("t.tar"))
        let whole = try Data(contentsOf: URL(fileURLWithPath: path("t.tar")))
        // Cut inside the second image's data: the first sample's members are complete.
        let pngBytes = try encodePNG(Self.picture(0)).count
        try whole.prefix(512 * 4 + ((pngBytes + 511) / 512) * 512 + 100).write(to: URL(fileURLWithPath: path("t.tar")))
        let summary = try importWebDataset([path("t.tar")], into: path("out"), options: options())
        XCTAssertEqual(summary.imported, 1)
        XCTAssertEqual(summary.issues.map(\.kind), [.damagedTar])
        XCTAssertEqual(summary.issues.first?.member, "1")
        XCTAssertEqual(try Dataset.open(path("out")).split("train").shortCaptions(at: 0), ["first"])
    }

    func testDamagedHeaderSkipsTheSampleBeingRead() throws {
        try TarFixture.write([("0.png", try encodePNG(Self.picture(0))), ("0.txt", TarFixture.text("first")),
                              ("1.png", try encodePNG(Self.picture(1))), ("1.txt", TarFixture.text("second"))], to: path("h.tar"))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path("h.tar")))
        // The header of 1.png follows 0.png's data and 0.txt's header and data; its checksum no longer matches.
        let header = 512 * 3 + ((try encodePNG(Self.picture(0)).count + 511) / 512) * 512
        bytes[header + 10] ^= 0x55
        try bytes.write(to: URL(fileURLWithPath: path("h.tar")))
        XCTAssertThrowsError(try importWebDataset([path("h.tar")], into: path("out"), options: options())) { error in
            // Sample 0 might have had more members behind the damaged header: it is skipped too.
            XCTAssertTrue("\(error)".contains("0: damaged tar"), "\(error)")
        }
    }

    func testRandomlyDamagedShardsNeverCrash() throws {
        let members = try (0..<3).flatMap { i -> [(name: String, data: [UInt8])] in
            [("\(i).png", try encodePNG(Self.picture(i))), ("\(i).json", TarFixture.text(#"{"caption": ["a", "b"], "long": "c"}"#))]
        }
        try TarFixture.write(members, to: path("good.tar"))
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("good.tar"))))
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var imported = 0, refused = 0
        for round in 0..<150 {
            // Flipped bytes anywhere (headers, sizes, checksums, image data), then sometimes a cut.
            var bytes = good
            for _ in 0..<(1 + next(4)) { bytes[next(bytes.count)] ^= UInt8(1 + next(255)) }
            if next(3) == 0 { bytes = Array(bytes.prefix(next(bytes.count))) }
            try Data(bytes).write(to: URL(fileURLWithPath: path("damaged.tar")))
            do {
                let summary = try importWebDataset([path("damaged.tar")], into: path("out\(round)"), options: options())
                XCTAssertEqual(try Dataset.open(path("out\(round)")).split("train").count, summary.imported)
                imported += 1
            } catch let error as DatasetError {
                XCTAssertTrue(error.file.hasPrefix(directory), "\(error)")
                refused += 1
            }
        }
        XCTAssertEqual(imported + refused, 150)
        XCTAssertGreaterThan(imported, 0)
    }

    func testAFileThatIsNoTarIsSkippedAndTheOtherShardsImported() throws {
        try Data("not a tar at all".utf8).write(to: URL(fileURLWithPath: path("text.tar")))
        try TarFixture.write([("0.png", try encodePNG(Self.picture(0))), ("0.txt", TarFixture.text("fine"))], to: path("good.tar"))
        let summary = try importWebDataset([path("text.tar"), path("good.tar")], into: path("out"), options: options())
        XCTAssertEqual(summary.imported, 1)
        XCTAssertEqual(summary.issues.map(\.kind), [.damagedTar])
        XCTAssertTrue(summary.issues[0].reason.contains("cannot be read as a tar archive") && summary.issues[0].reason.contains("the rest of the shard is skipped"),
                      summary.issues[0].reason)
    }

    func testGzipShardsAreRead() throws {
        try TarFixture.write([("0.png", try encodePNG(Self.picture(0))), ("0.txt", TarFixture.text("zipped"))],
                             to: path("z.tar.gz"), gzip: true)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("z.tar.gz"))).prefix(2), Data([0x1F, 0x8B]))
        let summary = try importWebDataset([path("z.tar.gz")], into: path("out"), options: options())
        XCTAssertEqual(summary.imported, 1)
        XCTAssertEqual(try Dataset.open(path("out")).split("train").shortCaptions(at: 0), ["zipped"])
    }

    func testStrictStopsAtTheFirstBadSampleAndLeavesNothing() throws {
        let shards = try writeMixedShards()
        XCTAssertThrowsError(try importWebDataset(shards, into: path("out"), options: options(strict: true))) { error in
            XCTAssertTrue("\(error)".contains("002: no caption") && "\(error)".contains("--strict"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out/dataset.json")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out/.webdataset-train")))
    }

    func testNoGoodSampleIsAnError() throws {
        try TarFixture.write([("0.txt", TarFixture.text("no image"))], to: path("bad.tar"))
        let text = errorText("no sample") { _ = try importWebDataset([self.path("bad.tar")], into: self.path("out"), options: self.options()) }
        XCTAssertTrue(text.contains("no sample could be imported") && text.contains("missing image"), text)
    }

    private struct Interrupted: Error {}

    /// Three shards of three samples; `differ` changes shard 0's captions.
    private func writeThreeShards(differ: Bool = false) throws -> [String] {
        try (0..<3).map { shard in
            let members = try (0..<3).flatMap { i -> [(name: String, data: [UInt8])] in
                let key = "\(shard)\(i)"
                return [("\(key).png", try encodePNG(Self.picture(shard * 3 + i))),
                        ("\(key).txt", TarFixture.text("caption \(key)\(differ && shard == 0 ? " changed" : "")"))]
            }
            try TarFixture.write(members + (shard == 1 ? [("13.txt", TarFixture.text("no image"))] : []), to: path("s\(shard).tar"))
            return path("s\(shard).tar")
        }
    }

    private func files(under directory: String) throws -> [String: Data] {
        var contents: [String: Data] = [:]
        for name in try FileManager.default.subpathsOfDirectory(atPath: directory).sorted() {
            var isDirectory: ObjCBool = false
            let full = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                contents[name] = try Data(contentsOf: URL(fileURLWithPath: full))
            }
        }
        return contents
    }

    func testInterruptedImportContinuesToTheSameDataSet() throws {
        let shards = try writeThreeShards()
        let whole = try importWebDataset(shards, into: path("whole"), options: options())
        XCTAssertEqual(whole.restoredShards, 0)
        XCTAssertThrowsError(try importWebDataset(shards, into: path("resumed"), options: options(),
                                                  onShardDone: { if $0.index == 0 { throw Interrupted() } }))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("resumed/dataset.json")), "an interrupted import is not a data set")
        var redone: [Int] = []
        let resumed = try importWebDataset(shards, into: path("resumed"), options: options(),
                                           onShardDone: { if !$0.restored { redone.append($0.index) } })
        XCTAssertEqual(redone, [1, 2], "only the unfinished shards are read again")
        XCTAssertEqual(resumed.restoredShards, 1)
        XCTAssertEqual(resumed.imported, whole.imported)
        XCTAssertEqual(resumed.issues, whole.issues)
        let wholeFiles = try files(under: path("whole")), resumedFiles = try files(under: path("resumed"))
        XCTAssertEqual(wholeFiles.keys.sorted(), ["dataset.json", "train/shard-00000.h5", "train/shard-00001.h5",
                                                  "train/shard-00002.h5", "train/shard-00003.h5", "train/shard-00004.h5"])
        XCTAssertEqual(wholeFiles, resumedFiles, "byte-identical to the uninterrupted import")
    }

    func testChangedShardIsImportedAgain() throws {
        let shards = try writeThreeShards()
        XCTAssertThrowsError(try importWebDataset(shards, into: path("out"), options: options(),
                                                  onShardDone: { if $0.index == 1 { throw Interrupted() } }))
        // Rewritten with other captions and a later modification time: its record no longer matches.
        _ = try writeThreeShards(differ: true)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: shards[0])
        let summary = try importWebDataset(shards, into: path("out"), options: options())
        XCTAssertEqual(summary.restoredShards, 0, "every shard was rewritten, so no record written before the interruption matches")
        XCTAssertEqual(try Dataset.open(path("out")).split("train").shortCaptions(at: 0), ["caption 00 changed"])
    }

    func testOtherSettingsRedoEveryShard() throws {
        let shards = try writeThreeShards()
        XCTAssertThrowsError(try importWebDataset(shards, into: path("out"), options: options(),
                                                  onShardDone: { if $0.index == 0 { throw Interrupted() } }))
        var other = options()
        other.captionFields = WebDatasetCaptionFields()
        let summary = try importWebDataset(shards, into: path("out"), options: other)
        XCTAssertEqual(summary.restoredShards, 0)
        XCTAssertEqual(summary.imported, 9)
    }
}
