import Datasets
import Foundation
import Images

/// Settings of `importWebDataset`: the manifest import's (sizing, shard size, split, strictness,
/// threads, deflate level) plus where the captions are.
package struct WebDatasetImportOptions: Sendable {
    package var common: ManifestImportOptions
    package var captionFields: WebDatasetCaptionFields

    package init(_ common: ManifestImportOptions, captionFields: WebDatasetCaptionFields = WebDatasetCaptionFields()) {
        self.common = common
        self.captionFields = captionFields
    }

    /// Everything that changes the staged samples: a rerun with other settings redoes every shard.
    /// (Staged images are stored uncompressed, so the deflate level is not part of it.)
    var fingerprint: String {
        "sizing \(common.sizing.summary); short field \(captionFields.short ?? "-"); long field \(captionFields.long ?? "-")"
    }
}

/// What a webdataset import did: the split written, every skipped sample or member, and how many
/// tar shards an earlier interrupted run had already finished.
package struct WebDatasetSummary: Sendable {
    package var imported = 0
    package var issues: [WebDatasetIssue] = []
    package var split: SplitDescription?
    package var shards = 0
    package var restoredShards = 0
    package var skipped: Int { issues.count }

    package func count(_ kind: ImportIssueKind) -> Int { issues.lazy.filter { $0.kind == kind }.count }

    mutating func add(_ staged: StagedShard, restored: Bool) {
        imported += staged.samples
        issues += staged.issues
        restoredShards += restored ? 1 : 0
    }
}

extension ImportProgress {
    /// This progress with more bytes read and items done; `restored`: done by an earlier run.
    func adding(bytes: Int, imported: Int, skipped: Int, restored: Bool = false) -> ImportProgress {
        var next = self
        (next.bytesRead, next.imported, next.skipped) = (bytesRead + bytes, self.imported + imported, self.skipped + skipped)
        if restored { (next.restoredBytes, next.restoredItems) = (restoredBytes + bytes, restoredItems + imported + skipped) }
        return next
    }
}

/// One tar shard done: imported now, or restored from an earlier run's record.
package struct WebDatasetShardDone: Sendable {
    package let index: Int
    package let path: String
    package let samples: Int
    package let skipped: Int
    package let restored: Bool
}

/// Imports webdataset tar shards (docs/data.md) into `output` as split `options.common.split`.
/// Bad samples and members (no image, no caption, an image that does not decode, a member of no
/// known kind, a tar that ends early) are reported through `onIssue` and skipped, or with `strict`
/// the first one throws. Each finished tar shard is staged and recorded (WebDatasetStaging), so
/// after an interruption a rerun redoes only the unfinished ones; `onShardDone` hears of each
/// (throwing from it interrupts the import as a crash would). The split appears in dataset.json
/// only when complete, and is the same as an uninterrupted import's; `onWriting` hears when the
/// staged samples start going into it (the last phase, with the final compression).
package func importWebDataset(_ shards: [String], into output: String, options: WebDatasetImportOptions,
                              onIssue: @escaping (WebDatasetIssue) -> Void = { _ in },
                              onProgress: (ImportProgress) -> Void = { _ in },
                              onShardDone: (WebDatasetShardDone) throws -> Void = { _ in },
                              onWriting: (Int) -> Void = { _ in }) throws -> WebDatasetSummary {
    guard let first = shards.first else { throw DatasetError(file: output, "no webdataset shard given") }
    try ShardPattern.requireShardsExist(shards)
    let identities = try shards.map(ShardFileIdentity.init)
    let common = options.common
    let resizer = try ImportResizer(common.sizing, manifest: first)
    // Made first, so a split that exists already (or another image layout) is refused before any work.
    let writer = try ShardWriter(directory: output, split: common.split, layout: common.sizing.layout,
                                 samplesPerShard: common.samplesPerShard, createdBy: common.createdBy,
                                 deflateLevel: common.deflateLevel)
    let staging = WebDatasetStaging(output: output, split: common.split)
    var summary = WebDatasetSummary()
    summary.shards = shards.count
    var progress = ImportProgress(bytesRead: 0, totalBytes: Int(identities.reduce(0) { $0 + $1.bytes }), imported: 0, skipped: 0)
    var finalFailure = false
    var stagedCounts: [Int] = []
    do {
        try staging.create()
        for (index, identity) in identities.enumerated() {
            let restoredShard = staging.finished(index, identity: identity, settings: options.fingerprint)
            let staged: StagedShard
            if let restoredShard { staged = restoredShard } else {
                let stager = ShardStager(index: index, identity: identity, options: options, resizer: resizer,
                                         staging: staging, onIssue: onIssue)
                do { staged = try stager.run { onProgress(progress.adding(bytes: $0, imported: $1, skipped: $2)) } } catch let stop as StrictStop {
                    finalFailure = true
                    throw DatasetError(file: stop.issue.shard, "\(stop.issue.member): \(stop.issue.kind.rawValue): \(stop.issue.reason) "
                                       + "(--strict stops at the first bad sample or member; nothing was written)")
                }
            }
            stagedCounts.append(staged.samples)
            summary.add(staged, restored: restoredShard != nil)
            progress = progress.adding(bytes: Int(identity.bytes), imported: staged.samples, skipped: staged.issues.count,
                                       restored: restoredShard != nil)
            onProgress(progress)
            try onShardDone(WebDatasetShardDone(index: index, path: identity.path, samples: staged.samples,
                                                skipped: staged.issues.count, restored: restoredShard != nil))
        }
        guard summary.imported > 0 else {
            finalFailure = true
            let firstIssue = summary.issues.first.map { "; the first problem: \($0)" } ?? ""
            throw DatasetError(file: first, "no sample could be imported from the \(shards.count) shard\(shards.count == 1 ? "" : "s") "
                               + "(\(summary.skipped) samples or members skipped)\(firstIssue)")
        }
        onWriting(summary.imported)
        try assemble(stagedCounts, from: staging, into: writer)
        summary.split = try writer.finish()
        staging.remove()
    } catch {
        writer.abort()
        if finalFailure { staging.remove() }
        throw error
    }
    return summary
}

/// Appends the staged samples of every shard, in shard order, to the final split.
private func assemble(_ stagedCounts: [Int], from staging: WebDatasetStaging, into writer: ShardWriter) throws {
    for (index, count) in stagedCounts.enumerated() where count > 0 {   // a shard without good samples stages nothing
        let directory = staging.samplesDirectory(index)
        do {
            let split = try Dataset.open(directory).split(WebDatasetStaging.stagedSplit)
            guard split.count == count else {
                throw DatasetError(file: directory, "holds \(split.count) samples; its record says \(count)")
            }
            for sample in 0..<split.count { try writer.append(try split.sample(at: sample)) }
        } catch let error as DatasetError where error.file.hasPrefix(staging.folder) {
            throw DatasetError(file: error.file, "\(error.problem); the staged import is damaged: delete '\(staging.folder)' and import again")
        }
    }
}

/// The first bad sample or member of a `--strict` import.
struct StrictStop: Error { let issue: WebDatasetIssue }
