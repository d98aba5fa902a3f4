import ArgumentParser
import Evaluation
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print two `discern eval --output` reports side by side (before / after training).",
        discussion: "Both kinds of report: a Discern data set's (with its likelihood reference) and the published benchmarks'.")

    @Argument(help: "The report before training (e.g. checkpoints/eval-base.json).") var before: String
    @Argument(help: "The report after training (e.g. checkpoints/eval-final.json).") var after: String

    func run() throws {
        let a = try loadReport(before), b = try loadReport(after)
        if case .discern(let x) = a, case .discern(let y) = b { return compareDiscern(x, y) }
        // Published benchmarks: every metric of either report, in the order the first lists them.
        let left = Dictionary(a.rows, uniquingKeysWith: { x, _ in x }), right = Dictionary(b.rows, uniquingKeysWith: { x, _ in x })
        var names = a.rows.map(\.name)
        names += b.rows.map(\.name).filter { !left.keys.contains($0) }
        var lines = ["metric".padding(toLength: 34, withPad: " ", startingAt: 0) + "  before     after", String(repeating: "-", count: 54)]
        lines += names.map { compareRow($0, left[$0], right[$0]) }
        print(lines.joined(separator: "\n"))
    }

    func compareDiscern(_ a: EvalReport, _ b: EvalReport) {
        var lines = ["metric".padding(toLength: 34, withPad: " ", startingAt: 0) + "  before     after   likelihood (base)",
                     String(repeating: "-", count: 76)]
        let likelihood = a.captionLikelihood
        lines.append(compareRow("image->text R@1", a.imageToText.r1, b.imageToText.r1, likelihood?.imageToText.r1))
        lines.append(compareRow("image->text R@5", a.imageToText.r5, b.imageToText.r5, likelihood?.imageToText.r5))
        lines.append(compareRow("text->image R@1", a.textToImage.r1, b.textToImage.r1, nil))
        lines.append(compareRow("text->image R@5", a.textToImage.r5, b.textToImage.r5, nil))
        for type in Set(a.hardNegatives.keys).union(b.hardNegatives.keys).sorted() {
            lines.append(compareRow("hard negatives: " + type, a.hardNegatives[type], b.hardNegatives[type], likelihood?.hardNegatives[type]))
        }
        print(lines.joined(separator: "\n"))
        if let likelihood { print("(likelihood: scoring captions by the base model's own next-token likelihood, first \(likelihood.images) images)") }
    }
}

/// A metric's name and its values, "-" where a report lacks it.
func compareRow(_ name: String, _ values: Double?...) -> String {
    func cell(_ v: Double?) -> String { v.map { String(format: "%8.3f", $0) } ?? "       -" }
    return name.padding(toLength: 34, withPad: " ", startingAt: 0) + values.map(cell).joined(separator: "   ")
}

/// A report `discern eval --output` wrote, of either kind.
func loadReport(_ path: String) throws -> AnyEvalReport {
    guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such report; make it with discern eval --output.") }
    return try AnyEvalReport.load(path)
}
