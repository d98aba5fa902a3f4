import ArgumentParser
import Evaluation
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print two `discern eval --output` reports side by side (before / after training).")

    @Argument(help: "The report before training (e.g. checkpoints/eval-base.json).") var before: String
    @Argument(help: "The report after training (e.g. checkpoints/eval-final.json).") var after: String

    func run() throws {
        func load(_ path: String) throws -> EvalReport {
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such report; make it with discern eval --output.") }
            return try EvalReport.load(path)
        }
        let a = try load(before), b = try load(after)
        func row(_ name: String, _ x: Double?, _ y: Double?, _ reference: Double? = nil) -> String {
            func cell(_ v: Double?) -> String { v.map { String(format: "%8.3f", $0) } ?? "       -" }
            return name.padding(toLength: 34, withPad: " ", startingAt: 0) + cell(x) + "   " + cell(y) + "   " + cell(reference)
        }
        var lines = ["metric".padding(toLength: 34, withPad: " ", startingAt: 0) + "  before     after   likelihood (base)",
                     String(repeating: "-", count: 76)]
        let likelihood = a.captionLikelihood
        lines.append(row("image->text R@1", a.imageToText.r1, b.imageToText.r1, likelihood?.imageToText.r1))
        lines.append(row("image->text R@5", a.imageToText.r5, b.imageToText.r5, likelihood?.imageToText.r5))
        lines.append(row("text->image R@1", a.textToImage.r1, b.textToImage.r1))
        lines.append(row("text->image R@5", a.textToImage.r5, b.textToImage.r5))
        for type in Set(a.hardNegatives.keys).union(b.hardNegatives.keys).sorted() {
            lines.append(row("hard negatives: " + type, a.hardNegatives[type], b.hardNegatives[type], likelihood?.hardNegatives[type]))
        }
        print(lines.joined(separator: "\n"))
        if let likelihood { print("(likelihood: scoring captions by the base model's own next-token likelihood, first \(likelihood.images) images)") }
    }
}
