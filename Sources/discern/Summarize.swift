import ArgumentParser
import Evaluation
import Foundation

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One markdown table row from several `discern eval --output` reports (e.g. seeds): mean and spread.",
        discussion: """
        Columns: i->t R@1, t->i R@1, then accuracy per hard-negative type (sorted); for published-benchmark reports, \
        R@1 both ways per retrieval benchmark, SugarCrepe's add / replace / swap means and Winoground's text / image / group. \
        --header prints the header row instead.
        """)

    @Option(help: "Row label.") var label = ""
    @Flag(help: "Print the header row (and the separator) for the given reports' negative types.") var header = false
    @Flag(help: "Summarize the reports' caption-likelihood reference (`eval --likelihood-images N`) instead of their embeddings; it has no t->i (-).")
    var likelihood = false
    @Argument(help: "Report files.") var reports: [String]

    func run() throws {
        let loaded = try reports.map(loadReport)
        guard let first = loaded.first else { throw ValidationError("give at least one report.") }
        let names = first.headline.map(\.name)
        if header {
            let columns = ["variant"] + names
            print("| " + columns.joined(separator: " | ") + " |")
            print("|" + String(repeating: "---|", count: columns.count))
            return
        }
        let columns = try zip(reports, loaded).map { path, report in try values(of: report, path: path, first: first, names: names) }
        func cell(_ column: [Double?]) -> String {
            let values = column.compactMap { $0 }
            guard values.count == column.count else { return "-" }
            let mean = values.reduce(0, +) / Double(values.count)
            guard values.count > 1 else { return String(format: "%.3f", mean) }
            let spread = (values.max()! - values.min()!) / 2
            return String(format: "%.3f ± %.3f", mean, spread)
        }
        let cells = [label] + names.indices.map { column in cell(columns.map { $0[column] }) }
        print("| " + cells.joined(separator: " | ") + " |")
    }

    /// The first report's columns in `report`. A Discern report lacking a hard-negative type counts
    /// it as 0 (as before); a benchmark report must have every column.
    func values(of report: AnyEvalReport, path: String, first: AnyEvalReport, names: [String]) throws -> [Double?] {
        if likelihood { return try likelihoodValues(of: report, path: path, names: names) }
        let metrics = Dictionary(report.headline, uniquingKeysWith: { x, _ in x })
        switch (first, report) {
        case (.discern, .discern): return names.map { metrics[$0] ?? 0 }
        case (.benchmarks, .benchmarks):
            return try names.map { name in
                guard let value = metrics[name] else { throw ValidationError("\(path): has no '\(name)', which \(reports[0]) has; summarize reports of the same benchmarks.") }
                return value
            }
        default: throw ValidationError("\(path): a different kind of report from \(reports[0]) (Discern data set against published benchmarks); summarize one kind at a time.")
        }
    }

    /// The likelihood reference in the embedding columns: i->t R@1 and each hard-negative type
    /// (over the images it scored); t->i is not defined for it.
    func likelihoodValues(of report: AnyEvalReport, path: String, names: [String]) throws -> [Double?] {
        guard case .discern(let eval) = report, let reference = eval.captionLikelihood else {
            throw ValidationError("\(path): has no caption-likelihood reference; write one with discern eval --likelihood-images N.")
        }
        return names.map { name in name == "i->t R@1" ? reference.imageToText.r1 : name == "t->i R@1" ? nil : reference.hardNegatives[name] ?? 0 }
    }
}
