import ArgumentParser
import Evaluation
import Foundation

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One markdown table row from several `discern eval --output` reports (e.g. seeds): mean and spread.",
        discussion: "Columns: i->t R@1, t->i R@1, then accuracy per hard-negative type (sorted). --header prints the header row instead.")

    @Option(help: "Row label.") var label = ""
    @Flag(help: "Print the header row (and the separator) for the given reports' negative types.") var header = false
    @Argument(help: "Report files.") var reports: [String]

    func run() throws {
        let loaded = try reports.map { path -> EvalReport in
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(path): no such report.") }
            return try EvalReport.load(path)
        }
        guard let first = loaded.first else { throw ValidationError("give at least one report.") }
        let types = first.hardNegatives.keys.sorted()
        if header {
            let columns = ["variant", "i->t R@1", "t->i R@1"] + types
            print("| " + columns.joined(separator: " | ") + " |")
            print("|" + String(repeating: "---|", count: columns.count))
            return
        }
        func cell(_ values: [Double]) -> String {
            let mean = values.reduce(0, +) / Double(values.count)
            guard values.count > 1 else { return String(format: "%.3f", mean) }
            let spread = (values.max()! - values.min()!) / 2
            return String(format: "%.3f ± %.3f", mean, spread)
        }
        var cells = [label, cell(loaded.map(\.imageToText.r1)), cell(loaded.map(\.textToImage.r1))]
        cells += types.map { type in cell(loaded.map { $0.hardNegatives[type] ?? 0 }) }
        print("| " + cells.joined(separator: " | ") + " |")
    }
}
