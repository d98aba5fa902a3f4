import Evaluation
import Foundation
import Images
import ModelFiles
import TestSupport
import XCTest

/// `discern eval` on the four published formats in one run, with the tiny gqa model: the report's
/// numbers against the same embeddings scored here by brute force, each distinct file embedded
/// once, `compare` and `summarize` on the report, and input mistakes refused before any embedding.
final class BenchmarkEvalCommandTests: XCTestCase {
    static let model = EmbedTests.model
    var folder: URL!
    var fixtures: BenchmarkFixtures!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-bench-eval-\(UUID().uuidString)")
        fixtures = try BenchmarkFixtures.write(to: folder.appendingPathComponent("data"))
        // docs/eval.md runs the commands on these files: keep a copy where asked.
        if let keep = ProcessInfo.processInfo.environment["DISCERN_BENCHMARK_FIXTURES"], !FileManager.default.fileExists(atPath: keep) {
            _ = try BenchmarkFixtures.write(to: URL(fileURLWithPath: keep))
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    var allFour: [String] {
        ["--data", fixtures.flickr.path, "--images", fixtures.flickrImages.path, "--data", fixtures.coco.path, "--images", fixtures.cocoImages.path,
         "--data", fixtures.sugarCrepe.path, "--images", fixtures.sugarCrepeImages.path,
         "--data", fixtures.winoground.path, "--images", fixtures.winogroundImages.path]
    }

    func eval(_ arguments: [String], model: URL = model) throws -> ChildResult {
        try runChild(try locateDiscern(), ["eval", "--model", model.path] + arguments, environment: childEnvironment, timeout: 120)
    }

    func json(_ url: URL) throws -> Any { try JSONSerialization.jsonObject(with: Data(contentsOf: url)) }

    func testFourBenchmarksInOneRunMatchBruteForce() throws {
        try checkFourBenchmarks(model: Self.model)
    }

    /// Qwen2-VL keeps each image at its own size: the same benchmarks through its processor.
    func testFourBenchmarksOnQwen2VL() throws {
        try checkFourBenchmarks(model: EmbedTests.fixtures.appendingPathComponent("qwen2vl-a"))
    }

    func checkFourBenchmarks(model: URL) throws {
        let output = folder.appendingPathComponent("report.json")
        let result = try eval(allFour + ["--output", output.path], model: model)
        XCTAssertEqual(result.status, 0, result.transcript)
        guard case .benchmarks(let report) = try AnyEvalReport.load(output.path) else { return XCTFail("not a benchmark report") }
        XCTAssertEqual(report.benchmarks.map(\.name), ["flickr30k", "coco", "sugarcrepe", "winoground"])
        let scorer = try BruteForceScorer(model: model.path)

        // Retrieval: every test-split image with its five captions.
        for (index, file, root) in [(0, fixtures.flickr, fixtures.flickrImages), (1, fixtures.coco, fixtures.cocoImages)] {
            let images = (try json(file) as! [String: Any])["images"] as! [[String: Any]]
            let test = images.filter { $0["split"] as! String == "test" }
            let paths = test.map { entry in
                root.appendingPathComponent((entry["filepath"] as? String) ?? "").appendingPathComponent(entry["filename"] as! String).path
            }
            let captions = test.map { ($0["sentences"] as! [[String: Any]]).map { $0["raw"] as! String } }
            let expected = try scorer.retrieval(images: paths, captions: captions)
            let actual = try XCTUnwrap(report.benchmarks[index].retrieval)
            XCTAssertEqual([actual.imageToText.r1, actual.imageToText.r5, actual.imageToText.r10], expected.imageToText, file.lastPathComponent)
            XCTAssertEqual([actual.textToImage.r1, actual.textToImage.r5, actual.textToImage.r10], expected.textToImage, file.lastPathComponent)
            XCTAssertEqual(actual.captions, 5 * test.count)
        }

        // SugarCrepe: per category, then the group means.
        let sugarCrepe = try XCTUnwrap(report.benchmarks[2].sugarcrepe)
        XCTAssertEqual(sugarCrepe.missing, [])
        for category in SugarCrepeFiles.categories {
            let items = (try json(fixtures.sugarCrepe.appendingPathComponent(category + ".json")) as! [String: [String: String]]).values
            let correct = try items.filter { item in
                let image = fixtures.sugarCrepeImages.appendingPathComponent(item["filename"]!).path
                return try scorer.similarity(image, item["caption"]!) > scorer.similarity(image, item["negative_caption"]!)
            }.count
            XCTAssertEqual(sugarCrepe.categories[category], Double(correct) / Double(items.count), category)
            XCTAssertEqual(sugarCrepe.items[category], items.count)
        }
        let add = (sugarCrepe.categories["add_att"]! + sugarCrepe.categories["add_obj"]!) / 2
        XCTAssertEqual(sugarCrepe.groups["add"]!, add, accuracy: Tolerance.doubleReordering)

        // Winoground: s(caption, image) for the four pairs of each line.
        var text = 0, image = 0, group = 0
        let lines = try String(contentsOf: fixtures.winoground, encoding: .utf8).split(separator: "\n")
        for line in lines {
            let example = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let i = (0..<2).map { fixtures.winogroundImages.appendingPathComponent("\(example["image_\($0)"] as! String).png").path }
            let c = (0..<2).map { example["caption_\($0)"] as! String }
            let s = try (0..<2).map { ci in try (0..<2).map { ii in try scorer.similarity(i[ii], c[ci]) } }
            let textRight = s[0][0] > s[1][0] && s[1][1] > s[0][1], imageRight = s[0][0] > s[0][1] && s[1][1] > s[1][0]
            text += textRight ? 1 : 0
            image += imageRight ? 1 : 0
            group += textRight && imageRight ? 1 : 0
        }
        let winoground = try XCTUnwrap(report.benchmarks[3].winoground)
        XCTAssertEqual([winoground.text, winoground.image, winoground.group], [text, image, group].map { Double($0) / Double(lines.count) })

        // Each distinct file and text once: 5 + 4 test images, 3 SugarCrepe images (shared by 7 files), 6 Winoground.
        XCTAssertEqual(report.embeddedImages, 5 + 4 + 3 + 6)
        XCTAssertEqual(report.embeddedTexts, scorer.textsAsked.count)
        XCTAssertTrue(result.standardError.contains("embedding 18 distinct images and \(scorer.textsAsked.count) distinct texts"), result.transcript)
        XCTAssertTrue(result.standardOutput.contains("flickr30k, split test: 5 images, 25 captions"), result.transcript)
        try checkCompareAndSummarize(output)
    }

    func checkCompareAndSummarize(_ report: URL) throws {
        var result = try runChild(try locateDiscern(), ["compare", report.path, report.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        let rows = result.standardOutput.split(separator: "\n")
        XCTAssertEqual(rows.count, 2 + 6 + 6 + 7 + 3 + 3, result.transcript)
        XCTAssertTrue(rows.contains { $0.hasPrefix("winoground group ") }, result.transcript)
        result = try runChild(try locateDiscern(), ["summarize", "--header", report.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.standardOutput.split(separator: "\n").first,
                       "| variant | flickr30k i->t R@1 | flickr30k t->i R@1 | coco i->t R@1 | coco t->i R@1 | sugarcrepe add | sugarcrepe replace | "
                       + "sugarcrepe swap | winoground text | winoground image | winoground group |", result.transcript)
        result = try runChild(try locateDiscern(), ["summarize", "--label", "tiny", report.path, report.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(result.standardOutput.components(separatedBy: " ± 0.000").count - 1, 10, result.transcript)
    }

    /// A folder and one of its files in one run share every image and text; their names stay apart.
    func testBenchmarksSharingFilesEmbedThemOnce() throws {
        let output = folder.appendingPathComponent("shared.json")
        let result = try eval(["--data", fixtures.sugarCrepe.path, "--data", fixtures.sugarCrepe.appendingPathComponent("add_obj.json").path,
                               "--images", fixtures.sugarCrepeImages.path, "--output", output.path])
        XCTAssertEqual(result.status, 0, result.transcript)
        guard case .benchmarks(let report) = try AnyEvalReport.load(output.path) else { return XCTFail("not a benchmark report") }
        XCTAssertEqual(report.benchmarks.map(\.name), ["sugarcrepe", "sugarcrepe-2"])
        XCTAssertEqual(report.embeddedImages, 3, "three val2017 files, however many items and runs name them")
        var texts = Set<String>()
        for category in SugarCrepeFiles.categories {
            for item in (try json(fixtures.sugarCrepe.appendingPathComponent(category + ".json")) as! [String: [String: String]]).values {
                texts.formUnion([item["caption"]!, item["negative_caption"]!])
            }
        }
        XCTAssertEqual(report.embeddedTexts, texts.count)
        XCTAssertEqual(report.benchmarks[1].sugarcrepe?.categories["add_obj"], report.benchmarks[0].sugarcrepe?.categories["add_obj"])
    }

    /// Every mistake is reported before the model embeds anything.
    func testInputMistakesAreRefusedBeforeEmbedding() throws {
        try FileManager.default.removeItem(at: fixtures.sugarCrepeImages.appendingPathComponent("000000000285.png"))
        // Exit 1 for a bad file, 64 (a usage error) for bad flags.
        let cases: [([String], String, Int32)] = [
            (allFour, "add_att.json: '1.filename': names \(fixtures.sugarCrepeImages.path)/000000000285.png, which is missing or unreadable", 1),
            (["--data", fixtures.flickr.path, "--benchmark", "imagenet", "--images", fixtures.flickrImages.path],
             "'imagenet' is not a benchmark this version reads", 1),
            (["--data", fixtures.flickr.path], "give --images DIR for \(fixtures.flickr.path)", 64),
            (["--data", fixtures.flickr.path, "--images", "/no/such/folder"], "--images /no/such/folder: no such folder", 64),
            (["--data", fixtures.flickr.path, "--images", fixtures.flickrImages.path, "--split", "restval"], "has no images in split 'restval'", 1),
            (["--data", fixtures.flickr.path, "--data", fixtures.coco.path, "--benchmark", "flickr30k"], "give one --benchmark per --data (1 for 2)", 64),
            (["--data", fixtures.winoground.path, "--benchmark", "coco", "--images", fixtures.winogroundImages.path], "examples.jsonl: is not valid JSON", 1),
            (["--data", fixtures.winoground.path, "--images", fixtures.winogroundImages.path, "--split", "val"], "--split applies to Karpathy-split files", 64),
            (["--data", fixtures.winoground.path, "--data", folder.path], "is neither a Discern data set (no dataset.json) nor a SugarCrepe folder", 1),
        ]
        for (arguments, expected, status) in cases {
            let result = try eval(arguments)
            XCTAssertEqual(result.status, status, result.transcript)
            XCTAssertFalse(result.timedOut)
            XCTAssertTrue(result.standardError.contains(expected), "expected '\(expected)' in:\n\(result.transcript)")
            XCTAssertFalse(result.standardError.contains("embedding"), "refused before embedding:\n\(result.transcript)")
        }
    }
}

/// The test's own scoring: embeddings from the Embedder (batch 32, as `discern eval`), one per
/// image file and caption, similarities by a plain loop, ranks by counting.
final class BruteForceScorer {
    let embedder: Embedder
    var images: [String: [Float]] = [:], texts: [String: [Float]] = [:]
    private(set) var textsAsked: Set<String> = []

    init(model: String) throws { embedder = try Embedder(directory: try ModelDirectory(path: model), batchSize: 32) }

    func similarity(_ image: String, _ text: String) throws -> Float {
        if images[image] == nil { images[image] = try embedder.embedImages([try loadImage(path: image)]) }
        if texts[text] == nil { texts[text] = try embedder.embedTexts([text]) }
        textsAsked.insert(text)
        return zip(images[image]!, texts[text]!).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Recall at 1, 5, 10: an image is found when ANY of its captions has fewer than K wrong
    /// captions at or above it; a caption when fewer than K wrong images score at or above its own.
    func retrieval(images paths: [String], captions: [[String]]) throws -> (imageToText: [Double], textToImage: [Double]) {
        let flat = captions.enumerated().flatMap { i, list in list.map { (owner: i, text: $0) } }
        let s = try paths.map { path in try flat.map { try similarity(path, $0.text) } }
        func imageFound(_ i: Int, _ k: Int) -> Bool {
            flat.indices.contains { c in flat[c].owner == i && flat.indices.filter { flat[$0].owner != i && s[i][$0] >= s[i][c] }.count < k }
        }
        func captionFound(_ c: Int, _ k: Int) -> Bool {
            paths.indices.filter { $0 != flat[c].owner && s[$0][c] >= s[flat[c].owner][c] }.count < k
        }
        return ([1, 5, 10].map { k in Double(paths.indices.filter { imageFound($0, k) }.count) / Double(paths.count) },
                [1, 5, 10].map { k in Double(flat.indices.filter { captionFound($0, k) }.count) / Double(flat.count) })
    }
}
