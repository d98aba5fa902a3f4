import Formats

/// A report of either kind `discern eval --output` writes, as `compare` and `summarize` read it:
/// Discern's own (a data set or eval JSONL) or the published benchmarks' (a `benchmarks` list).
package enum AnyEvalReport {
    case discern(EvalReport)
    case benchmarks(BenchmarkReport)

    /// Strictly parsed; the `benchmarks` key tells the kinds apart.
    package static func load(_ path: String) throws -> AnyEvalReport {
        let document = try JSONNode.read(path: path)
        if case .object(let members) = document.value, members.contains(where: { $0.key == "benchmarks" }) {
            return .benchmarks(try StrictJSON.decode(BenchmarkReport.self, path: path))
        }
        return .discern(try EvalReport.load(path))
    }

    package typealias Metric = (name: String, value: Double)

    /// Every metric, named as `compare` prints it (fractions).
    package var rows: [Metric] {
        switch self {
        case .discern(let report):
            return [("image->text R@1", report.imageToText.r1), ("image->text R@5", report.imageToText.r5),
                    ("text->image R@1", report.textToImage.r1), ("text->image R@5", report.textToImage.r5)]
                + report.hardNegatives.sorted { $0.key < $1.key }.map { ("hard negatives: " + $0.key, $0.value) }
        case .benchmarks(let report):
            return report.benchmarks.flatMap(\.rows)
        }
    }

    /// The columns `summarize` prints: R@1 both ways, SugarCrepe's group means, Winoground's three
    /// scores (for Discern's own report: R@1 both ways and each hard-negative type).
    package var headline: [Metric] {
        switch self {
        case .discern(let report):
            return [("i->t R@1", report.imageToText.r1), ("t->i R@1", report.textToImage.r1)]
                + report.hardNegatives.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        case .benchmarks(let report):
            return report.benchmarks.flatMap(\.headline)
        }
    }
}

extension BenchmarkResult {
    var rows: [AnyEvalReport.Metric] {
        if let r = retrieval {
            return [("image->text R@1", r.imageToText.r1), ("image->text R@5", r.imageToText.r5), ("image->text R@10", r.imageToText.r10),
                    ("text->image R@1", r.textToImage.r1), ("text->image R@5", r.textToImage.r5), ("text->image R@10", r.textToImage.r10)]
                .map { ("\(name) \($0.0)", $0.1) }
        }
        if let s = sugarcrepe {
            let categories = SugarCrepeFiles.categories.compactMap { c in s.categories[c].map { ("\(name) \(c)", $0) } }
            return categories + SugarCrepeFiles.groups.compactMap { g in s.groups[g].map { ("\(name) \(g) (mean)", $0) } }
        }
        return headline
    }

    var headline: [AnyEvalReport.Metric] {
        if let r = retrieval { return [("\(name) i->t R@1", r.imageToText.r1), ("\(name) t->i R@1", r.textToImage.r1)] }
        if let s = sugarcrepe { return SugarCrepeFiles.groups.compactMap { g in s.groups[g].map { ("\(name) \(g)", $0) } } }
        guard let w = winoground else { return [] }
        return [("\(name) text", w.text), ("\(name) image", w.image), ("\(name) group", w.group)]
    }
}
