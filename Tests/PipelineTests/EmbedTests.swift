import Datasets
import Evaluation
import Formats
import Foundation
import HDF5Files
import Images
import Kernels
import ModelFiles
import TestSupport
import XCTest

/// `discern embed` on model directories written by transformers, with real PNG files, against
/// transformers' own processors and models in float32: CLIPImageProcessor +
/// LlavaForConditionalGeneration (gqa), Qwen2VLImageProcessor + Qwen2VLForConditionalGeneration
/// (qwen2vl-a, qwen2vl-b: images of their own sizes, smart-resized).
final class EmbedTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ModelsTests/Fixtures").standardized
    static let models = ["gqa", "qwen2vl-a", "qwen2vl-b"]
    static let model = fixtures.appendingPathComponent("gqa")
    static var folder: URL { model.appendingPathComponent("embed") }
    /// Float32 against float32 torch through ~10 layers: measured ~3e-7; 1e-5 allows other BLAS
    /// kernels and summation orders, far below what a wrong layer, norm or prompt changes.
    static let tolerance: Float = 1e-5

    func expected(_ name: String, model: String = "gqa") throws -> [Float] {
        try SafetensorsFile(path: Self.fixtures.appendingPathComponent(model + "/embed/expected.safetensors").path).floats(name)
    }

    var imageFiles: [String] { imageFiles(of: "gqa") }
    func imageFiles(of model: String) -> [String] {
        (0..<3).map { Self.fixtures.appendingPathComponent("\(model)/embed/image-\($0).png").path }
    }

    func testEmbedderMatchesTransformers() throws {
        for model in Self.models {
            let embedder = try Embedder(directory: try ModelDirectory(path: Self.fixtures.appendingPathComponent(model).path), batchSize: 2)
            let images = try embedder.embedImages(imageFiles(of: model).map { try loadImage(path: $0) })
            let captions = try String(contentsOf: Self.fixtures.appendingPathComponent(model + "/embed/captions.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
            let texts = try embedder.embedTexts(captions)
            for (actual, name) in [(images, "image_embeddings"), (texts, "text_embeddings")] {
                let reference = try expected(name, model: model)
                XCTAssertEqual(actual.count, reference.count)
                let error = zip(actual, reference).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(error, Self.tolerance, "\(model) \(name): max abs error \(error)")
                print("embed parity: \(model) \(name) max abs error \(error)")
            }
        }
    }

    func testEmbedCommandWritesTheFile() throws {
        for (model, width) in [("gqa", 48), ("qwen2vl-b", 32)] {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("discern-embed-\(UUID().uuidString).h5")
            defer { try? FileManager.default.removeItem(at: output) }
            let folder = Self.fixtures.appendingPathComponent(model)
            let result = try runChild(try locateDiscern(), ["embed", "--model", folder.path, "--images"] + imageFiles(of: model)
                                      + ["--texts", folder.appendingPathComponent("embed/captions.txt").path, "--output", output.path],
                                      environment: childEnvironment, timeout: 60)
            XCTAssertEqual(result.status, 0, result.transcript)
            let file = try H5File.open(output.path)
            let images = try file.read("/image_embeddings", as: Float.self), texts = try file.read("/text_embeddings", as: Float.self)
            XCTAssertEqual(images.shape, [3, width])
            XCTAssertEqual(texts.shape, [3, width])
            for (actual, name) in [(images.values, "image_embeddings"), (texts.values, "text_embeddings")] {
                let error = zip(actual, try expected(name, model: model)).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(error, Self.tolerance, "\(model) \(name): max abs error \(error)")
            }
            XCTAssertEqual(try file.stringAttribute("image_prompt"), "<image>\nSummary above image in one word:")
            if model == "gqa" { XCTAssertEqual(try file.readStrings("/texts").values.last, "Ünïcode and emoji 🎨 too") }
        }
    }

    /// Windows line endings: "\r\n" is one Swift Character, so a split on "\n" alone once merged
    /// the whole file into one caption.
    func testCaptionFileWithCRLFEndingsGivesOneCaptionPerLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-crlf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let captions = folder.appendingPathComponent("captions.txt"), output = folder.appendingPathComponent("e.h5")
        try Data("a red circle\r\n\r\na blue square\r\nlast line\r".utf8).write(to: captions)
        let result = try runChild(try locateDiscern(), ["embed", "--model", Self.model.path, "--texts", captions.path,
                                                        "--output", output.path], environment: childEnvironment, timeout: 60)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(try H5File.open(output.path).readStrings("/texts").values, ["a red circle", "a blue square", "last line"])
        try Data([0x61, 0xff, 0xfe, 0x0a]).write(to: captions)
        let binary = try runChild(try locateDiscern(), ["embed", "--model", Self.model.path, "--texts", captions.path,
                                                        "--output", output.path], environment: childEnvironment, timeout: 60)
        XCTAssertNotEqual(binary.status, 0, binary.transcript)
        XCTAssertTrue(binary.standardError.contains("captions.txt:1: not valid UTF-8 text"), binary.transcript)
    }

    func testEmbedCommandErrorsAreClear() throws {
        let discern = try locateDiscern()
        let cases: [([String], String)] = [
            (["embed", "--model", "/no/such/model", "--texts", "/dev/null", "--output", "/tmp/x.h5"], "/no/such/model: no such model directory"),
            (["embed", "--model", Self.model.path, "--output", "/tmp/x.h5"], "give --images, --texts or both"),
            (["embed", "--model", Self.model.path, "--images", "/no/such.png", "--output", "/tmp/x.h5"], "/no/such.png"),
            (["embed", "--model", Self.model.path, "--images", Self.folder.appendingPathComponent("captions.txt").path, "--output", "/tmp/x.h5"], "captions.txt"),
        ]
        for (arguments, message) in cases {
            let result = try runChild(discern, arguments, environment: childEnvironment, timeout: 60)
            XCTAssertNotEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardError.contains(message), "expected '\(message)' in: \(result.transcript)")
        }
    }
}

/// `discern eval` on a Qwen2-VL model: the eval split's stored images go through the model's own
/// processor (smart resize), and the report's recall and hard-negative accuracies are those of
/// the embedder's embeddings of the same images and captions.
final class Qwen2VLEvalTests: XCTestCase {
    func testEvalScoresTheEmbeddersEmbeddings() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-qeval-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try ShardWriter(directory: folder.path, split: "eval", imageSize: 24, samplesPerShard: 8)
        var random = Xoshiro256(seed: 9)
        let colours = ["red", "green", "blue", "yellow", "white"], shapes = ["circle", "square", "star"]
        for i in 0..<10 {
            let image = (0..<24 * 24 * 3).map { _ in UInt8(random.next() % 256) }
            let short = "a \(colours[i % 5]) \(shapes[i % 3])"
            try writer.append(Sample(id: "e\(i)", image: image, short: short, long: nil,
                                     negatives: ["swap": "a \(colours[(i + 1) % 5]) \(shapes[i % 3])"]))
        }
        try writer.finish()
        let model = EmbedTests.fixtures.appendingPathComponent("qwen2vl-a").path
        let embedder = try Embedder(directory: try ModelDirectory(path: model), batchSize: 4)
        XCTAssertNil(embedder.imageSize)
        let set = try EvalSet.dataset(folder.path, imageSize: nil)
        XCTAssertEqual(set.images.count, 10)
        let report = try Evaluator.evaluate(set, embedder: embedder, modelPath: model, checkpoint: nil, likelihood: nil)
        let images = try embedder.embedImages(set.images), captions = try embedder.embedTexts(set.captions)
        let negatives = try embedder.embedTexts(set.negatives.map(\.caption))
        let width = embedder.width
        func dot(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int) -> Float { (0..<width).reduce(0) { $0 + a[i * width + $1] * b[j * width + $1] } }
        var similarity = [Float]()
        for i in 0..<10 { for c in 0..<set.captions.count { similarity.append(dot(images, i, captions, c)) } }
        let expected = RetrievalMetrics.recall(similarity: similarity, images: 10, captionImage: set.captionImage)
        XCTAssertEqual(report.imageToText.r1, expected.imageToText.r1)
        XCTAssertEqual(report.textToImage.r1, expected.textToImage.r1)
        let correct = set.negatives.enumerated().filter { k, n in dot(images, n.image, captions, n.positive) > dot(images, n.image, negatives, k) }.count
        XCTAssertEqual(report.hardNegatives["swap"]!, Double(correct) / Double(set.negatives.count), accuracy: 1e-12)
    }
}
