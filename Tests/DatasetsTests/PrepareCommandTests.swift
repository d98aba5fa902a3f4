import Datasets
import Foundation
import Images
import TestSupport
import XCTest

/// `discern prepare` as a user runs it: exit status, summary and messages.
final class PrepareCommandTests: DatasetTestCase {
    private func writeManifest() throws -> String {
        try writePNG(RGBImage(width: 10, height: 7, filledWith: (9, 99, 199)), to: path("a.png"))
        let lines = [
            #"{"image": "a.png", "short": "blue", "long": "a blue picture"}"#,
            #"{"image": "gone.png", "short": "x"}"#,
            "{oops",
            #"{"image": "a.png", "caption": "eval form", "negatives": {"swap": "not blue"}}"#,
        ]
        let manifest = path("m.jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: manifest, atomically: true, encoding: .utf8)
        return manifest
    }

    func testPrepareSummarisesAndNamesBadLines() throws {
        let manifest = try writeManifest()
        let result = try runDiscern(["prepare", "--manifest", manifest, "--output", path("out"), "--image-size", "6"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Imported 2 samples"), result.stdout)
        XCTAssertTrue(result.stdout.contains("Skipped 2 lines: 1 not JSON, 1 missing image."), result.stdout)
        XCTAssertTrue(result.stderr.contains("m.jsonl:2: skipped (missing image)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("m.jsonl:3: skipped (not JSON)"), result.stderr)
        XCTAssertEqual(try Dataset.open(path("out")).split("train").count, 2)
    }

    func testStrictFailsWithoutOutputAndImageSizeIsRequired() throws {
        let manifest = try writeManifest()
        let strict = try runDiscern(["prepare", "--manifest", manifest, "--output", path("strict"),
                                     "--image-size", "6", "--strict", "--split", "eval"])
        XCTAssertNotEqual(strict.status, 0)
        XCTAssertTrue(strict.stderr.contains("line 2"), strict.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("strict/dataset.json")))
        let noSize = try runDiscern(["prepare", "--manifest", manifest, "--output", path("x")])
        XCTAssertNotEqual(noSize.status, 0)
        XCTAssertTrue(noSize.stderr.contains("--image-size"), noSize.stderr)
    }

    func testQwen2VLModelWritesOwnSizeShardsAndNamesTheRefusedLine() throws {
        let manifest = Qwen2VLDataFixture.manifest, model = Qwen2VLDataFixture.model
        let result = try runDiscern(["prepare", "--manifest", manifest, "--output", path("qwen"), "--model", model])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Imported 6 samples") && result.stdout.contains("own sizes: smart_resize, factor 4, 64...400 pixels"),
                      result.stdout)
        XCTAssertTrue(result.stdout.contains("Skipped 1 line: 1 refused image."), result.stdout)
        XCTAssertTrue(result.stderr.contains("manifest.jsonl:7: skipped (refused image)") && result.stderr.contains("refused_201x1.png")
                      && result.stderr.contains("aspect ratio"), result.stderr)
        XCTAssertEqual(try Dataset.open(path("qwen")).layout, .own(Self.ownSizing))
        for flags in [["--image-size", "8"], ["--image-mode", "pad"]] {
            let refused = try runDiscern(["prepare", "--manifest", manifest, "--output", path("x"), "--model", model] + flags)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("\(flags[0]) \(flags[1]) does not apply to the Qwen2-VL model"), refused.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("x/dataset.json")))
        }
    }

    func testLlavaModelStillGivesFixedSizeShards() throws {
        let manifest = try writeManifest()
        let llava = Qwen2VLDataFixture.model.replacingOccurrences(of: "qwen2vl-a", with: "mha")
        let result = try runDiscern(["prepare", "--manifest", manifest, "--output", path("llava"), "--model", llava])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("12x12, crop"), result.stdout)
        XCTAssertEqual(try Dataset.open(path("llava")).imageSize, 12)
    }

    struct Run { let status: Int32; let stdout: String; let stderr: String }

    /// Runs the `discern` of this build (TestSupport finds it) with a hard timeout.
    func runDiscern(_ arguments: [String]) throws -> Run {
        let result = try runChild(try locateDiscern(), arguments, environment: ProcessInfo.processInfo.environment,
                                  timeout: 120)
        XCTAssertFalse(result.timedOut, result.transcript)
        return Run(status: result.status, stdout: result.standardOutput, stderr: result.standardError)
    }
}
