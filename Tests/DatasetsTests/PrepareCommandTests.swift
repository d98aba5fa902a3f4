import Datasets
import Foundation
import Images
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

    private struct Run { let status: Int32; let stdout: String; let stderr: String }

    private func runDiscern(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try locateDiscern()
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting so a full pipe cannot block the child.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The `discern` executable SwiftPM builds next to the test bundle (DISCERN_BINARY overrides).
    private func locateDiscern() throws -> URL {
        if let override = ProcessInfo.processInfo.environment["DISCERN_BINARY"] {
            return URL(fileURLWithPath: override)
        }
        var folders: [URL] = []
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            folders.append(URL(fileURLWithPath: executable).deletingLastPathComponent())
        }
        folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent())
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            folders.append(bundle.bundleURL.deletingLastPathComponent())
        }
        for folder in folders {
            let candidate = folder.appendingPathComponent("discern")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        struct NotBuilt: Error, CustomStringConvertible { let description: String }
        throw NotBuilt(description: "discern not found in \(folders.map(\.path)); build it with "
                       + "`swift build --build-tests` or set DISCERN_BINARY")
    }
}
