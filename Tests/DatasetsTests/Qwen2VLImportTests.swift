import DataImport
import Datasets
import Foundation
import Images
import TestSupport
import XCTest

/// Tests/DatasetsTests/Fixtures/qwen2vl-data/, written by Tests/Reference/make_qwen2vl_data_fixtures.py:
/// what transformers' Qwen2VLImageProcessorPil of the qwen2vl-a model directory makes of each image.
struct Qwen2VLDataFixture: Decodable {
    struct Case: Decodable {
        let image: String
        let line: Int
        let resized_width: Int
        let resized_height: Int
        /// FNV-1a 64 of the uint8 (height, width, 3) image after the processor's resize.
        let resized_fnv1a64: String
    }

    struct Refused: Decodable {
        let image: String
        let line: Int
        let transformers_message: String
    }

    let cases: [Case]
    let refused: Refused

    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/qwen2vl-data")
    static let manifest = folder.appendingPathComponent("manifest.jsonl").path
    /// The Qwen2-VL test model: factor 4 (patch 2 x merge 2), 64...400 pixels.
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures/qwen2vl-a").standardizedFileURL.path

    static func load() throws -> Qwen2VLDataFixture {
        try JSONDecoder().decode(Qwen2VLDataFixture.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }
}

/// `importManifest` with a Qwen2-VL model directory: format 3 shards holding transformers' bytes.
final class Qwen2VLImportTests: DatasetTestCase {
    func testModelDirectoriesChooseTheSizing() throws {
        let qwen = try ImportSizing.ofModel(Qwen2VLDataFixture.model, mode: .crop)
        guard case .smartResized(let settings) = qwen else { return XCTFail("qwen2vl-a: \(qwen)") }
        XCTAssertEqual(OwnImageSizing(settings), Self.ownSizing)
        let llava = Qwen2VLDataFixture.model.replacingOccurrences(of: "qwen2vl-a", with: "mha")
        XCTAssertEqual(try ImportSizing.ofModel(llava, mode: .padToSquare), .fixed(size: 12, mode: .padToSquare))
    }

    func testImportStoresEachImageAtTransformersSize() throws {
        let fixture = try Qwen2VLDataFixture.load()
        var issues: [ImportIssue] = []
        let sizing = try ImportSizing.ofModel(Qwen2VLDataFixture.model, mode: .crop)
        let summary = try importManifest(Qwen2VLDataFixture.manifest, into: path("out"),
                                         options: ManifestImportOptions(sizing: sizing, samplesPerShard: 4, threads: 2),
                                         onIssue: { issues.append($0) })
        XCTAssertEqual(summary.imported, fixture.cases.count)
        XCTAssertEqual(summary.split?.shards.count, 2)
        // The refused image is a skipped line, named, with smart_resize's reason.
        XCTAssertEqual(issues.map(\.line), [fixture.refused.line])
        XCTAssertEqual(issues.first?.kind, .refusedImage)
        XCTAssertTrue(issues.first.map { $0.reason.contains(fixture.refused.image) && $0.reason.contains("201 x 1 pixels")
                                         && $0.reason.contains("at most 200:1") } ?? false, "\(issues)")
        XCTAssertTrue(fixture.refused.transformers_message.contains("smaller than 200"))
        let dataset = try Dataset.open(path("out"))
        XCTAssertEqual(dataset.layout, .own(Self.ownSizing))
        let split = try dataset.split("train")
        for (index, expected) in fixture.cases.enumerated() {
            let sample = try split.sample(at: index)
            XCTAssertEqual(sample.id, expected.image)
            XCTAssertEqual([sample.width, sample.height], [expected.resized_width, expected.resized_height], expected.image)
            XCTAssertEqual(fnv1a64(sample.image), expected.resized_fnv1a64, "\(expected.image): bytes differ from transformers' resize")
        }
        XCTAssertEqual(Set(fixture.cases.map { "\($0.resized_width)x\($0.resized_height)" }).count, fixture.cases.count,
                       "the fixture's images should all differ in size")
    }

    /// The fixture's images as webdataset members (keys are the file names without ".png"): format 3,
    /// the same bytes as transformers' resize, through the staging and back.
    func testWebDatasetImportStoresTheSameOwnSizeImages() throws {
        let fixture = try Qwen2VLDataFixture.load()
        let members = try fixture.cases.flatMap { expected -> [(name: String, data: [UInt8])] in
            let png = [UInt8](try Data(contentsOf: Qwen2VLDataFixture.folder.appendingPathComponent(expected.image)))
            let key = (expected.image as NSString).deletingPathExtension
            return [("\(key).png", png), ("\(key).txt", TarFixture.text("caption of \(key)"))]
        }
        try TarFixture.write(Array(members.prefix(4)), to: path("a.tar"))
        try TarFixture.write(Array(members.dropFirst(4)), to: path("b.tar"))
        let sizing = try ImportSizing.ofModel(Qwen2VLDataFixture.model, mode: .crop)
        let summary = try importWebDataset([path("a.tar"), path("b.tar")], into: path("out"),
                                           options: WebDatasetImportOptions(ManifestImportOptions(sizing: sizing, samplesPerShard: 3, threads: 2)))
        XCTAssertEqual(summary.imported, fixture.cases.count)
        let dataset = try Dataset.open(path("out"))
        XCTAssertEqual(dataset.layout, .own(Self.ownSizing))
        let split = try dataset.split("train")
        for (index, expected) in fixture.cases.enumerated() {
            let sample = try split.sample(at: index)
            XCTAssertEqual(sample.id, "images/" + ((expected.image as NSString).lastPathComponent as NSString).deletingPathExtension)
            XCTAssertEqual([sample.width, sample.height], [expected.resized_width, expected.resized_height], expected.image)
            XCTAssertEqual(fnv1a64(sample.image), expected.resized_fnv1a64, "\(expected.image): bytes differ from transformers' resize")
        }
    }

    func testStrictImportStopsAtTheRefusedImage() throws {
        var options = ManifestImportOptions(sizing: try ImportSizing.ofModel(Qwen2VLDataFixture.model, mode: .crop))
        options.strict = true
        let message = errorText("strict") { _ = try importManifest(Qwen2VLDataFixture.manifest, into: self.path("strict"), options: options) }
        XCTAssertTrue(message.contains("line 7: refused image") && message.contains("aspect ratio"), message)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("strict/dataset.json")))
    }
}
