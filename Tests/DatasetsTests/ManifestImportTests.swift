import DataImport
import Datasets
import Foundation
import Images
import XCTest

final class ManifestImportTests: DatasetTestCase {
    /// A manifest mixing good lines (training and evaluation forms, absolute and relative
    /// paths) with every kind of bad line; the comments give the line numbers.
    private func writeManifest() throws -> String {
        try FileManager.default.createDirectory(atPath: path("images"), withIntermediateDirectories: true)
        try writePNG(RGBImage(width: 12, height: 8, filledWith: (200, 10, 10)), to: path("images/red.png"))
        try writePNG(RGBImage(width: 6, height: 9, filledWith: (10, 200, 10)), to: path("images/green.png"))
        let png = try encodePNG(RGBImage(width: 8, height: 8, filledWith: (1, 2, 3)))
        try Data(png.prefix(40)).write(to: URL(fileURLWithPath: path("images/truncated.png")))
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: path("images/text.jpg")))
        let lines = [
            #"{"image": "images/red.png", "short": "a red square", "long": "a wide red rectangle on its own"}"#,  // 1
            #"{"image": "images/green.png", "caption": "green", "negatives": {"swap_color": "red"}}"#,  // 2
            #"{"image": "images/red.png", "short": "unterminated"#,  // 3: not JSON
            "",  // 4: blank, ignored
            #"{"image": "images/missing.png", "short": "gone"}"#,  // 5: missing image
            #"{"image": "images/truncated.png", "short": "cut"}"#,  // 6: corrupt image
            #"{"image": "images/green.png", "short": "", "long": null}"#,  // 7: no caption
            #"{"image": "images/text.jpg", "long": "text"}"#,  // 8: not an image
            #"{"image": "images/green.png", "short": 7}"#,  // 9: wrong field type
            #"{"image": "\#(path("images/green.png"))", "long": "absolute path", "id": "custom-id"}"#,  // 10
        ]
        let manifest = path("manifest.jsonl")
        try lines.joined(separator: "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        return manifest
    }

    func testImportSkipsBadLinesAndReportsThem() throws {
        let manifest = try writeManifest()
        var reported: [ImportIssue] = []
        let output = path("out")
        let summary = try importManifest(manifest, into: output,
                                         options: ManifestImportOptions(imageSize: 4, samplesPerShard: 2, threads: 2),
                                         onIssue: { reported.append($0) })
        XCTAssertEqual(summary.imported, 3)
        XCTAssertEqual(summary.skipped, 6)
        XCTAssertEqual(reported, summary.issues)
        XCTAssertEqual(summary.issues.map(\.line), [3, 5, 6, 7, 8, 9])
        XCTAssertEqual(summary.issues.map(\.kind), [.notJSON, .missingImage, .corruptImage, .noCaption,
                                                    .corruptImage, .wrongField])
        XCTAssertEqual(summary.count(.corruptImage), 2)
        XCTAssertTrue(summary.issues[1].reason.contains("missing.png"), summary.issues[1].reason)
        XCTAssertTrue(summary.issues[5].description.hasPrefix("line 9: wrong field"), summary.issues[5].description)

        let split = try Dataset.open(output).split("train")
        XCTAssertEqual(split.count, 3)
        let red = try split.sample(at: 0)
        XCTAssertEqual(red.id, "images/red.png")
        XCTAssertEqual(red.short, "a red square")
        XCTAssertEqual(red.image, [UInt8]([200, 10, 10].repeated(16)))
        let green = try split.sample(at: 1)
        XCTAssertEqual(green.short, "green", "the evaluation form's caption is the short caption")
        XCTAssertNil(green.long)
        XCTAssertEqual(green.negatives, ["swap_color": "red"])
        let absolute = try split.sample(at: 2)
        XCTAssertEqual(absolute.id, "custom-id")
        XCTAssertNil(absolute.short)
        XCTAssertEqual(absolute.long, "absolute path")
    }

    func testThreadCountDoesNotChangeTheOutput() throws {
        let manifest = try writeManifest()
        let options = { (threads: Int) in ManifestImportOptions(imageSize: 4, samplesPerShard: 2, threads: threads) }
        _ = try importManifest(manifest, into: path("one"), options: options(1))
        _ = try importManifest(manifest, into: path("three"), options: options(3))
        for file in ["dataset.json", "train/shard-00000.h5", "train/shard-00001.h5"] {
            XCTAssertEqual(try bytes(file, in: path("one")), try bytes(file, in: path("three")), file)
        }
    }

    func testStrictStopsAtTheFirstBadLineAndWritesNothing() throws {
        let manifest = try writeManifest()
        let output = path("strict")
        var options = ManifestImportOptions(imageSize: 4, samplesPerShard: 1)
        options.strict = true
        let message = errorText("strict import") { _ = try importManifest(manifest, into: output, options: options) }
        XCTAssertTrue(message.contains("manifest.jsonl") && message.contains("line 3"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: (output as NSString).appendingPathComponent("dataset.json")))
        XCTAssertFalse(FileManager.default.fileExists(atPath: (output as NSString).appendingPathComponent("train")),
                       "the shards of lines 1-2 must be removed")
    }
}

extension ManifestImportTests {
    func testManifestWithoutAnyGoodLineFails() throws {
        let manifest = path("bad.jsonl")
        try "{\"image\": \"nowhere.png\", \"short\": \"x\"}\nnot json\n".write(toFile: manifest, atomically: true,
                                                                               encoding: .utf8)
        let message = errorText("nothing importable") {
            _ = try importManifest(manifest, into: path("empty"), options: ManifestImportOptions(imageSize: 4))
        }
        XCTAssertTrue(message.contains("no sample could be imported (2 lines skipped)") && message.contains("line 1"),
                      message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("empty/dataset.json")))
    }
}

private extension Array {
    func repeated(_ times: Int) -> [Element] { (0..<times).flatMap { _ in self } }
}

extension ManifestImportTests {
    /// Manifest lines go through the strict JSON parser: what JSONSerialization used to accept
    /// (a duplicate key keeping one value, a trailing comma) is `not JSON`, and fatal with --strict.
    func testNonStrictJSONLinesAreRejected() throws {
        try FileManager.default.createDirectory(atPath: path("images"), withIntermediateDirectories: true)
        try writePNG(RGBImage(width: 4, height: 4, filledWith: (200, 10, 10)), to: path("images/red.png"))
        let lines = [
            #"{"image": "images/red.png", "short": "a red square"}"#,
            #"{"image": "images/red.png", "short": "one", "short": "two"}"#,
            #"{"image": "images/red.png", "short": "trailing",}"#,
            #"{"image": "images/red.png", "negatives": {"a": "x",}, "short": "s"}"#,
            #"{"image": "images/red.png", "short": "nan", "score": NaN}"#,
        ]
        let manifest = path("strict-json.jsonl")
        try lines.joined(separator: "\r\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        let summary = try importManifest(manifest, into: path("out-json"), options: ManifestImportOptions(imageSize: 4))
        XCTAssertEqual(summary.imported, 1)
        XCTAssertEqual(summary.issues.map(\.line), [2, 3, 4, 5])
        XCTAssertEqual(summary.issues.map(\.kind), [.notJSON, .notJSON, .notJSON, .notJSON])
        XCTAssertTrue(summary.issues[0].reason.contains(#"duplicate key "short" at column 45"#), summary.issues[0].reason)
        var options = ManifestImportOptions(imageSize: 4)
        options.strict = true
        let message = errorText("strict import") { _ = try importManifest(manifest, into: path("out-strict"), options: options) }
        XCTAssertTrue(message.contains("line 2") && message.contains("duplicate key"), message)
    }
}
