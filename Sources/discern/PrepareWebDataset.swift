import DataImport
import Foundation

extension Prepare {
    /// `--webdataset`: expands the patterns, checks every shard exists, then imports (continuing an
    /// interrupted run), reporting skipped samples and members like a manifest's bad lines.
    func runWebDataset(_ common: ManifestImportOptions) throws {
        let shards = try ShardPattern.expandAll(webdataset)
        try ShardPattern.requireShardsExist(shards)
        let options = WebDatasetImportOptions(common, captionFields: WebDatasetCaptionFields(short: captionField, long: longCaptionField))
        let bar = ProgressReporter()
        let skipped = SkippedItems(bar, what: "samples and members")
        let show = { (issue: WebDatasetIssue) in
            skipped.show("\(issue.shard): \(issue.member): skipped (\(issue.kind.rawValue)): \(issue.reason)")
        }
        let summary = try importWebDataset(shards, into: output, options: options, onIssue: show,
                                           onProgress: bar.importProgress(unit: "samples"), onShardDone: { done in
            if done.restored {
                bar.message("\(done.path): done by an earlier run (\(done.samples) samples, \(done.skipped) skipped), not read again")
            }
        }, onWriting: { count in bar.message("writing the \(count) samples into \((output as NSString).appendingPathComponent(split))") })
        bar.finish()
        print(importReport(imported: summary.imported, skipped: summary.issues.map(\.kind), nouns: ("sample or member", "samples or members"),
                          split: summary.split, output: output, name: split, sizing: common.sizing))
        if summary.restoredShards > 0 {
            print("Continued an interrupted import: \(summary.restoredShards) of \(summary.shards) shards were done before.")
        }
    }
}
