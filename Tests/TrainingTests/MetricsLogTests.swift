import Foundation
import Provenance
import TestSupport
import Training
import XCTest

/// metrics.jsonl: a start line naming the binary, then one line per step; resume drops what
/// lies past the resumed step and adds a start line for the binary that resumes.
final class MetricsLogTests: XCTestCase {
    var file: URL!
    let first = try! build(commit: "aaaa", runtime: "static")
    let second = try! build(commit: "bbbb-modified", runtime: "shared")

    override func setUpWithError() throws {
        file = URL(fileURLWithPath: try makeScratchDirectory("discern-metrics")).appendingPathComponent("metrics.jsonl")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }

    func record(_ step: Int) throws -> MetricsRecord {
        let line = #"{"backward_seconds":0.25,"communication_seconds":0.05,"contrastive_loss":0.5,"forward_seconds":0.2,"#
            + #""gflop_per_s":1,"grad_norm":0.1,"logit_scale":14.3,"loss":1.5,"lr":0.001,"ntp_loss":0.25,"samples_per_s":10,"#
            + #""step":\#(step),"step_seconds":0.5,"tokens_per_s":100}"#
        return try JSONDecoder().decode(MetricsRecord.self, from: Data(line.utf8))
    }

    /// Each line as the start it records or the step it logs.
    func lines() throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { line in
            let bytes = Data(line.utf8)
            if let start = try? JSONDecoder().decode(MetricsStart.self, from: bytes) { return "start \(start.startStep) \(start.build.commit)" }
            return "step \(try JSONDecoder().decode(MetricsRecord.self, from: bytes).step)"
        }
    }

    func testTheFirstLineNamesTheBuild() throws {
        let log = try MetricsLog(file: file, keepSteps: 0, build: first)
        for step in 1...2 { try log.append(try record(step)) }
        XCTAssertEqual(try lines(), ["start 0 aaaa", "step 1", "step 2"])
        let text = try String(contentsOf: file, encoding: .utf8)
        let start = try JSONDecoder().decode(MetricsStart.self, from: Data(text.prefix { $0 != "\n" }.utf8))
        XCTAssertEqual(start.build, first)
        XCTAssertTrue(text.hasPrefix(#"{"build":{"commit":"aaaa","compiler":"Swift version 6.3.1","configuration":"release","date":"#), text)
        XCTAssertEqual(metricsStepLines(text).count, 2)
    }

    func testResumeKeepsTheStartsAndStepsUpToItsStepAndAddsItsOwnStart() throws {
        do {
            let log = try MetricsLog(file: file, keepSteps: 0, build: first)
            for step in 1...4 { try log.append(try record(step)) }
        }
        // A kill mid-write leaves a torn last line: it is dropped like the steps past the checkpoint.
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"backward_seconds":0.2,"#.utf8))
        try handle.close()
        do {
            let log = try MetricsLog(file: file, keepSteps: 2, build: second)
            for step in 3...5 { try log.append(try record(step)) }
        }
        XCTAssertEqual(try lines(), ["start 0 aaaa", "step 1", "step 2", "start 2 bbbb-modified", "step 3", "step 4", "step 5"])
        // Resuming from an earlier checkpoint drops the later start too.
        _ = try MetricsLog(file: file, keepSteps: 1, build: first)
        XCTAssertEqual(try lines(), ["start 0 aaaa", "step 1", "start 1 aaaa"])
    }
}

/// A build as another binary would record it (BuildInfo's initialiser is the module's own).
func build(commit: String, runtime: String) throws -> BuildInfo {
    let json = #"{"commit":"\#(commit)","compiler":"Swift version 6.3.1","configuration":"release","date":"2026-12-03T18:00:00Z","#
        + #""swift_runtime":"\#(runtime)","version":"0.1.0"}"#
    return try JSONDecoder().decode(BuildInfo.self, from: Data(json.utf8))
}

final class BuildInfoTests: XCTestCase {
    /// The runtime is asked of the loaded libraries, not told: this test binary, built by
    /// `swift build` without --static-swift-stdlib, loads libswiftCore.so (launch/dist-check sees
    /// "static" for dist/discern). Commit, date and compiler come all together from the launchers'
    /// build-info object (launch/test links it in) or not at all (a plain `swift build`).
    func testTheBuildSaysSharedAndItsCommitDateAndCompilerTogether() throws {
        let build = BuildInfo.current
        XCTAssertEqual(build.swiftRuntime, "shared")
        XCTAssertEqual(build.version, BuildInfo.releaseVersion)
        if build.commit == "unknown" {
            XCTAssertEqual([build.date, build.compiler], ["unknown", "unknown"])
            return
        }
        XCTAssertNotNil(build.commit.wholeMatch(of: /[0-9a-f]{12}(-modified)?/), build.commit)
        XCTAssertNotNil(build.date.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z/), build.date)
        XCTAssertTrue(build.compiler.hasPrefix("Swift version "), build.compiler)
    }

    func testTheVersionTextNamesEveryField() throws {
        let text = try build(commit: "abc-modified", runtime: "static").versionText
        XCTAssertEqual(text.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).first.map(String.init) ?? "" },
                       ["discern", "commit", "built", "configuration", "compiler"])
        for fragment in ["discern 0.1.0", "abc-modified", "2026-12-03T18:00:00Z", "release, Swift runtime linked in (static)", "Swift version 6.3.1"] {
            XCTAssertTrue(text.contains(fragment), "missing '\(fragment)' in:\n\(text)")
        }
    }
}
