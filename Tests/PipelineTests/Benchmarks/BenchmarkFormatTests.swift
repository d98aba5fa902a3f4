import Evaluation
import Foundation
import TestSupport
import XCTest

/// Reading the published formats: what is kept, what is detected, and each mistake a clear error.
final class BenchmarkFormatTests: XCTestCase {
    var folder: URL!
    var fixtures: BenchmarkFixtures!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-benchmarks-\(UUID().uuidString)")
        fixtures = try BenchmarkFixtures.write(to: folder)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        XCTFail("expected an error")
        return ""
    }

    func testKarpathySplitsKeepEveryCaptionOfTheChosenSplit() throws {
        let flickr = try KarpathySplit.read(fixtures.flickr.path, images: fixtures.flickrImages.path, split: "test")
        XCTAssertEqual(flickr.imagePaths.map { URL(fileURLWithPath: $0).lastPathComponent },
                       ["1000092795.jpg", "1000092796.jpg", "1000092797.jpg", "200003.png", "200004.png"])
        XCTAssertEqual(flickr.captions.count, 25)
        XCTAssertEqual(flickr.captionImage, (0..<5).flatMap { Array(repeating: $0, count: 5) })
        XCTAssertEqual(flickr.datasetName, "flickr30k")
        let coco = try KarpathySplit.read(fixtures.coco.path, images: fixtures.cocoImages.path, split: "restval")
        XCTAssertEqual(coco.imagePaths, [fixtures.cocoImages.appendingPathComponent("train2014/COCO_train2014_000000391899.png").path],
                       "filepath is the folder under --images")
        XCTAssertEqual(coco.captions.last, "An outdoor scene with a yellow box and a orange sun. ", "raw kept as published")
    }

    func testKarpathyErrorsNameTheFileAndEntry() throws {
        XCTAssertTrue(message { _ = try KarpathySplit.read(self.fixtures.coco.path, images: self.fixtures.cocoImages.path, split: "tset") }
            .contains("has no images in split 'tset' (it has: restval (1 images), test (4 images), val (1 images)); pick one with --split"))
        try FileManager.default.removeItem(at: fixtures.flickrImages.appendingPathComponent("200004.png"))
        XCTAssertTrue(message { _ = try KarpathySplit.read(self.fixtures.flickr.path, images: self.fixtures.flickrImages.path, split: "test") }
            .contains("dataset_flickr30k.json: 'images[4].filename': names \(fixtures.flickrImages.path)/200004.png, which is missing or unreadable (1 of 5 image files missing)"))
        let broken = folder.appendingPathComponent("broken.json")
        try #"{"images": [{"filename": "a.jpg", "split": "test", "sentences": [{"tokens": []}]}]}"#.write(to: broken, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try KarpathySplit.read(broken.path, images: self.folder.path, split: "test") }
            .contains("broken.json: 'images[0].sentences[0]': missing required key 'raw'"))
        try "{\"images\": [\n{\"filename\": 3,}]}".write(to: broken, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try KarpathySplit.read(broken.path, images: self.folder.path, split: "test") }
            .contains("broken.json: is not valid JSON (invalid JSON at line 2"))
    }

    func testSugarCrepeFolderSubsetAndSingleFile() throws {
        try FileManager.default.removeItem(at: fixtures.sugarCrepe.appendingPathComponent("replace_rel.json"))
        let set = try SugarCrepeFiles.read(fixtures.sugarCrepe.path, images: fixtures.sugarCrepeImages.path)
        XCTAssertEqual(set.categories.map(\.name), ["add_att", "add_obj", "replace_att", "replace_obj", "swap_att", "swap_obj"])
        XCTAssertEqual(set.missing, ["replace_rel"])
        XCTAssertEqual(set.categories[1].items.count, 3)
        XCTAssertEqual(set.categories[1].items[0].negative, set.categories[1].items[0].caption + " and a dog")
        let one = try SugarCrepeFiles.read(fixtures.sugarCrepe.appendingPathComponent("swap_obj.json").path, images: fixtures.sugarCrepeImages.path)
        XCTAssertEqual(one.categories.map(\.name), ["swap_obj"])
        let renamed = folder.appendingPathComponent("swap.json")
        try FileManager.default.copyItem(at: fixtures.sugarCrepe.appendingPathComponent("swap_obj.json"), to: renamed)
        XCTAssertTrue(message { _ = try SugarCrepeFiles.read(renamed.path, images: self.fixtures.sugarCrepeImages.path) }
            .contains("swap.json: is not named after a SugarCrepe category"))
        try #"{"0": {"filename": "x.png", "caption": "a"}}"#.write(to: fixtures.sugarCrepe.appendingPathComponent("add_att.json"), atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try SugarCrepeFiles.read(self.fixtures.sugarCrepe.path, images: self.fixtures.sugarCrepeImages.path) }
            .contains("add_att.json: '0': missing required key 'negative_caption'"))
    }

    func testWinogroundExamplesAndErrors() throws {
        let set = try WinogroundExamples.read(fixtures.winoground.path, images: fixtures.winogroundImages.path)
        XCTAssertEqual(set.examples.count, 3)
        XCTAssertEqual(set.examples[2].images.1, fixtures.winogroundImages.appendingPathComponent("ex_2_img_1.png").path)
        XCTAssertEqual(set.examples[0].captions.0, "the red sun is above the yellow box")
        var text = try String(contentsOf: fixtures.winoground, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"caption_1\":\"the black sun", with: "\"caption_2\":\"the black sun")
        try text.write(to: fixtures.winoground, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try WinogroundExamples.read(self.fixtures.winoground.path, images: self.fixtures.winogroundImages.path) }
            .contains("examples.jsonl:2: missing required key 'caption_1'"))
        try FileManager.default.removeItem(at: fixtures.winogroundImages.appendingPathComponent("ex_0_img_1.png"))
        try String(text.split(separator: "\n")[0]).write(to: fixtures.winoground, atomically: true, encoding: .utf8)
        XCTAssertTrue(message { _ = try WinogroundExamples.read(self.fixtures.winoground.path, images: self.fixtures.winogroundImages.path) }
            .contains("examples.jsonl: 'line 1: image_1': names"))
    }

    func testFormatsAreDetectedFromTheirContent() throws {
        XCTAssertEqual(try EvalInputKind.detect(fixtures.flickr.path), .karpathy)
        XCTAssertEqual(try EvalInputKind.detect(fixtures.coco.path), .karpathy)
        XCTAssertEqual(try EvalInputKind.detect(fixtures.sugarCrepe.path), .sugarCrepe)
        XCTAssertEqual(try EvalInputKind.detect(fixtures.sugarCrepe.appendingPathComponent("add_obj.json").path), .sugarCrepe)
        XCTAssertEqual(try EvalInputKind.detect(fixtures.winoground.path), .winoground)
        let discern = folder.appendingPathComponent("eval.jsonl")
        try #"{"image": "a.png", "caption": "x"}"#.write(to: discern, atomically: true, encoding: .utf8)
        XCTAssertEqual(try EvalInputKind.detect(discern.path), .discern)
        XCTAssertTrue(message { _ = try EvalInputKind.detect(self.fixtures.flickrImages.path) }.contains("is neither a Discern data set"))
        XCTAssertTrue(message { _ = try EvalInputKind.named("imagenet") }
            .contains("'imagenet' is not a benchmark this version reads; use one of flickr30k, coco, karpathy, sugarcrepe, winoground, discern"))
        XCTAssertEqual(try EvalInputKind.named("Flickr30k"), .karpathy)
    }
}
