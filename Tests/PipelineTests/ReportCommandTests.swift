import Evaluation
import Foundation
import TestSupport
import XCTest

/// `discern summarize` and `discern compare` on hand-made reports.
final class ReportCommandTests: XCTestCase {
    func report(_ r1: Double, _ colour: Double) -> EvalReport {
        let recall = RetrievalMetrics.Recall(r1: r1, r5: 0.5, r10: 0.9)
        return EvalReport(imageToText: recall, textToImage: recall, hardNegatives: ["replace_attribute": colour, "swap_objects": 0.5],
                          images: 10, captions: 10, negativesPerType: ["replace_attribute": 10, "swap_objects": 10],
                          model: "m", checkpoint: nil, captionLikelihood: nil)
    }

    func testSummarizeGivesMeanAndHalfRangeAndCompareShowsBoth() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-reports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a.json"), b = folder.appendingPathComponent("b.json")
        try JSONEncoder().encode(report(0.2, 0.8)).write(to: a)
        try JSONEncoder().encode(report(0.4, 0.9)).write(to: b)
        var result = try runChild(try locateDiscern(), ["summarize", "--label", "x", a.path, b.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(result.standardOutput, "| x | 0.300 ± 0.100 | 0.300 ± 0.100 | 0.850 ± 0.050 | 0.500 ± 0.000 |\n")
        result = try runChild(try locateDiscern(), ["summarize", "--header", a.path], environment: childEnvironment, timeout: 30)
        XCTAssertTrue(result.standardOutput.hasPrefix("| variant | i->t R@1 | t->i R@1 | replace_attribute | swap_objects |"), result.transcript)
        result = try runChild(try locateDiscern(), ["compare", a.path, b.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("image->text R@1                      0.200      0.400"), result.transcript)
    }

    /// `--likelihood` reads the caption-likelihood reference: its i->t R@1 and hard negatives, no
    /// t->i; a report without one is a clear error.
    func testSummarizeLikelihoodRowsAndTheReportWithoutOne() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-reports-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a.json"), b = folder.appendingPathComponent("b.json"), plain = folder.appendingPathComponent("plain.json")
        for (file, r1, colour) in [(a, 0.6, 0.7), (b, 0.8, 1.0)] {
            // The reference as `discern eval --likelihood-images` writes it (its type has no public initialiser).
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(report(0.1, 0.5))) as? [String: Any])
            object["caption_likelihood"] = ["images": 4, "image_to_text": ["r1": r1, "r5": 1.0, "r10": 1.0],
                                            "hard_negatives": ["replace_attribute": colour, "swap_objects": 0.25]]
            try JSONSerialization.data(withJSONObject: object).write(to: file)
        }
        try JSONEncoder().encode(report(0.1, 0.5)).write(to: plain)
        var result = try runChild(try locateDiscern(), ["summarize", "--likelihood", "--label", "ceiling", a.path, b.path], environment: childEnvironment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(result.standardOutput, "| ceiling | 0.700 ± 0.100 | - | 0.850 ± 0.150 | 0.250 ± 0.000 |\n")
        result = try runChild(try locateDiscern(), ["summarize", "--likelihood", a.path, plain.path], environment: childEnvironment, timeout: 30)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.standardError.contains("plain.json: has no caption-likelihood reference; write one with discern eval --likelihood-images N."), result.transcript)
    }
}
