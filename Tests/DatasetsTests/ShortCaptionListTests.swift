import DataImport
import Datasets
import Foundation
import HDF5Files
import Images
import XCTest

/// Several short captions per image: the manifest's lists, their checks, the shard columns,
/// old single-caption shards, and the per-epoch choice.
final class ShortCaptionListTests: DatasetTestCase {
    private func manifest(_ lines: [String]) throws -> String {
        try FileManager.default.createDirectory(atPath: path("images"), withIntermediateDirectories: true)
        try writePNG(RGBImage(width: 4, height: 4, filledWith: (200, 10, 10)), to: path("images/red.png"))
        let file = path("lists.jsonl")
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func testManifestListsImportAndBadListsAreReportedByLine() throws {
        let long = String(repeating: "x", count: ShortCaptionRules.maxCharacters + 1)
        let file = try manifest([
            #"{"image": "images/red.png", "short": ["a red square", "a square, red", "red"], "long": "one red square"}"#,  // 1
            #"{"image": "images/red.png", "short": []}"#,  // 2: empty list
            #"{"image": "images/red.png", "short": ["fine", 3]}"#,  // 3: not a string
            #"{"image": "images/red.png", "caption": ["ok", ""]}"#,  // 4: empty caption
            #"{"image": "images/red.png", "short": ["ok", "\#(long)"]}"#,  // 5: over-long
            #"{"image": "images/red.png", "short": {"a": "b"}}"#,  // 6: an object
            #"{"image": "images/red.png", "caption": ["one", "two"]}"#,  // 7: the evaluation form's list
            #"{"image": "images/red.png", "short": "single"}"#,  // 8: one caption, as before
        ])
        let summary = try importManifest(file, into: path("out"), options: ManifestImportOptions(imageSize: 4, samplesPerShard: 2))
        XCTAssertEqual(summary.imported, 3)
        XCTAssertEqual(summary.issues.map(\.line), [2, 3, 4, 5, 6])
        XCTAssertTrue(summary.issues.allSatisfy { $0.kind == .wrongField }, "\(summary.issues)")
        let reasons = summary.issues.map(\.description)
        XCTAssertTrue(reasons[0].hasPrefix("line 2: wrong field: \"short\": the list of short captions is empty"), reasons[0])
        XCTAssertTrue(reasons[1].contains(#""short"[1] must be a caption string, not a number"#), reasons[1])
        XCTAssertTrue(reasons[2].contains(#""caption": short caption [1] is empty"#), reasons[2])
        XCTAssertTrue(reasons[3].contains("short caption [1] has 1001 characters; at most 1000"), reasons[3])
        XCTAssertTrue(reasons[4].contains("must be a caption string or a list of them, not an object"), reasons[4])

        let dataset = try Dataset.open(path("out"))
        let split = try dataset.split("train")
        XCTAssertTrue(split.hasShortCaptionLists)
        XCTAssertEqual(split.description.captions.moreShort, 3)
        XCTAssertEqual(split.description.captions.short.count, 3, "the short statistics count each sample's first caption")
        XCTAssertEqual(try split.shortCaptions(at: 0), ["a red square", "a square, red", "red"])
        XCTAssertEqual(try split.sample(at: 0).short, "a red square")
        XCTAssertEqual(try split.captions(at: 0).short, "a red square")
        XCTAssertEqual(try split.shortCaptions(at: 1), ["one", "two"])
        XCTAssertEqual(try split.shortCaptions(at: 2), ["single"])
        XCTAssertEqual(try split.sample(at: 2).shortCaptions, ["single"])
    }

    /// A data set written without lists has none of the new columns, attributes or keys: its
    /// shards and dataset.json are what they always were, and each sample has its one caption.
    func testSingleCaptionSplitsStayAsTheyWere() throws {
        try writeSplit(count: 6)
        let shard = try H5File.open(path("train/shard-00000.h5"))
        XCTAssertFalse(try shard.hasAttribute("short_caption_lists"))
        XCTAssertNil(try shard.objectKind("short_more"))
        try shard.close()
        let json = try String(contentsOfFile: path("dataset.json"), encoding: .utf8)
        XCTAssertFalse(json.contains("more_short"), json)
        let split = try Dataset.open(directory).split("train")
        XCTAssertFalse(split.hasShortCaptionLists)
        for number in 0..<6 {
            XCTAssertEqual(try split.shortCaptions(at: number), Self.sample(number, size: 4).short.map { [$0] } ?? [])
        }
    }

    /// The writer checks lists itself, for importers other than the manifest (webdataset).
    func testWriterRefusesABadList() throws {
        let writer = try ShardWriter(directory: path("bad"), split: "train", imageSize: 2)
        let sample = Sample(id: "s", image: [UInt8](repeating: 1, count: 12), width: 2, height: 2, shortCaptions: ["ok", ""], long: nil)
        let message = errorText("an empty caption in a list") { try writer.append(sample) }
        XCTAssertTrue(message.contains("sample 's': short caption [1] is empty"), message)
        writer.abort()
    }

    /// dataset.json promises the extra captions the shards hold: a damaged start column is refused.
    func testMoreShortCountIsVerified() throws {
        let writer = try ShardWriter(directory: directory, split: "train", imageSize: 2, samplesPerShard: 2)
        for number in 0..<3 {
            try writer.append(Sample(id: "s\(number)", image: [UInt8](repeating: UInt8(number), count: 12), width: 2, height: 2,
                                     shortCaptions: (0...number).map { "caption \(number).\($0)" }, long: nil))
        }
        try writer.finish()
        XCTAssertEqual(try Dataset.open(directory).split("train").description.captions.moreShort, 3)
        try editTrainSplit { train in
            var captions = train["captions"] as! [String: Any]
            captions["more_short"] = 5
            train["captions"] = captions
        }
        let message = errorText("a wrong more_short") { _ = try Dataset.open(directory) }
        XCTAssertTrue(message.contains("lists 5 more short captions but its shards hold 3"), message)
    }

    /// The choice is a pure function of (seed, epoch, sample), and over `count` consecutive
    /// epochs every caption of a sample is used exactly once.
    func testChoiceCoversEveryCaptionOverEpochs() {
        var starts = Set<Int>()
        for sample in 0..<50 {
            for count in 1...5 {
                for first in [0, 7] {
                    let chosen = (first..<first + count).map { ShortCaptionChoice.index(seed: 3, epoch: $0, sample: sample, count: count) }
                    XCTAssertEqual(Set(chosen), Set(0..<count), "sample \(sample), \(count) captions, epochs from \(first)")
                }
            }
            starts.insert(ShortCaptionChoice.index(seed: 3, epoch: 0, sample: sample, count: 5))
            XCTAssertEqual(ShortCaptionChoice.index(seed: 3, epoch: 4, sample: sample, count: 5),
                           ShortCaptionChoice.index(seed: 3, epoch: 4, sample: sample, count: 5))
        }
        XCTAssertEqual(starts, Set(0..<5), "samples start at different captions")
        let seeds = (0..<20).map { ShortCaptionChoice.index(seed: UInt64($0), epoch: 0, sample: 1, count: 5) }
        XCTAssertGreaterThan(Set(seeds).count, 1, "the seed moves the choice")
    }
}
