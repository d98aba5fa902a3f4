import Datasets
import Foundation

/// The summary `discern prepare` prints on stdout: what was written, what was skipped by kind, the caption statistics.
package func importReport(imported: Int, skipped: [ImportIssueKind], nouns: (one: String, many: String), split description: SplitDescription?,
                          output: String, name: String, sizing: ImportSizing) -> String {
    let shards = description?.shards.count ?? 0
    var lines = ["Imported \(imported) samples into \((output as NSString).appendingPathComponent(name)) "
                 + "(\(shards) shard\(shards == 1 ? "" : "s"), \(sizing.summary))."]
    let parts = ImportIssueKind.allCases.compactMap { kind -> String? in
        let n = skipped.lazy.filter { $0 == kind }.count
        return n > 0 ? "\(n) \(kind.rawValue)" : nil
    }
    lines.append("Skipped \(skipped.count) \(skipped.count == 1 ? nouns.one : nouns.many)" + (parts.isEmpty ? "." : ": " + parts.joined(separator: ", ") + "."))
    if let captions = description?.captions {
        let more = captions.moreShort.map { " + \($0) more short (several per image)" } ?? ""
        let negatives = captions.negatives.isEmpty ? "none"
            : captions.negatives.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("Captions: \(captions.short.count) short (mean \(captions.short.meanWords) words)\(more), "
                     + "\(captions.long.count) long (mean \(captions.long.meanWords) words), "
                     + "\(captions.withBoth) with both; negatives: \(negatives).")
    }
    return lines.joined(separator: "\n")
}
