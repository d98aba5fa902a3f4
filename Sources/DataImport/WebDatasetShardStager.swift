import Datasets
import Foundation
import Images

/// Imports one tar shard into its staging folder: members grouped into samples in archive order,
/// images decoded `threads` at a time, samples appended in order, then the record written.
struct ShardStager {
    let index: Int
    let identity: ShardFileIdentity
    let options: WebDatasetImportOptions
    let resizer: ImportResizer
    let staging: WebDatasetStaging
    let onIssue: (WebDatasetIssue) -> Void

    /// `onProgress(bytesRead, imported, skipped)` after each chunk of samples.
    func run(onProgress: (Int, Int, Int) -> Void) throws -> StagedShard {
        try staging.clear(index)
        let common = options.common
        let samples = try WebDatasetSampleReader(path: identity.path)
        let writer = try ShardWriter(directory: staging.samplesDirectory(index), split: WebDatasetStaging.stagedSplit,
                                     layout: common.sizing.layout, samplesPerShard: common.samplesPerShard,
                                     createdBy: common.createdBy, deflateLevel: nil)   // read once more, then compressed for good
        var state = State()
        do {
            // Samples as their groups end and member problems as they are met, in archive order.
            var pending: [Pending] = []
            let chunkSize = max(1, common.threads) * 8
            let stray = { (name: String, reason: String) in
                pending.append(.issue(WebDatasetIssue(shard: identity.path, member: name, kind: .unknownMember, reason: reason)))
            }
            while let sample = samples.next(stray: stray) {
                pending.append(.group(sample.group))
                if pending.count >= chunkSize {
                    try flush(&pending, writer, &state)
                    onProgress(samples.bytesRead, state.samples, state.issues.count)
                }
            }
            if let damage = samples.damage {
                let lost = damage.lostSample
                pending.append(.issue(WebDatasetIssue(
                    shard: identity.path, member: lost ?? "(no sample)", kind: .damagedTar,
                    reason: "\(damage.message); \(lost == nil ? "the" : "this sample and the") rest of the shard \(lost == nil ? "is" : "are") "
                        + "skipped (re-download or re-create it)")))
            }
            try flush(&pending, writer, &state)
            if state.samples > 0 { try writer.finish() } else { writer.abort() }
        } catch {
            writer.abort()
            throw error
        }
        let staged = StagedShard(shard: identity, settings: options.fingerprint, samples: state.samples, issues: state.issues)
        try staging.record(staged, index: index)
        return staged
    }

    private enum Pending {
        case group(WebDatasetGroup)
        case issue(WebDatasetIssue)
    }

    private struct State {
        var samples = 0
        var issues: [WebDatasetIssue] = []
    }

    private func report(_ issue: WebDatasetIssue, _ state: inout State) throws {
        if options.common.strict { throw StrictStop(issue: issue) }
        state.issues.append(issue)
        onIssue(issue)
    }

    /// Parses the pending groups, decodes their images in parallel and appends them (or reports
    /// why not) in order.
    private func flush(_ pending: inout [Pending], _ writer: ShardWriter, _ state: inout State) throws {
        // A member problem is a failed item of its own, so it is reported in its place.
        var parsed: [Result<WebDatasetEntry, WebDatasetIssue>] = []
        for item in pending {
            switch item {
            case .issue(let issue): parsed.append(.failure(issue))
            case .group(let group):
                var unknown: [WebDatasetIssue] = []
                let entry = WebDatasetEntry.parse(group, shard: identity.path, fields: options.captionFields) { unknown.append($0) }
                parsed += unknown.map { .failure($0) } + [entry]
            }
        }
        pending.removeAll(keepingCapacity: true)
        let shard = identity.path, resizer = resizer
        let outcomes = parallelMap(parsed, threads: options.common.threads) { $0.flatMap { decoded($0, resizer, shard: shard) } }
        for outcome in outcomes {
            switch outcome {
            case .success(let sample):
                try writer.append(sample)
                state.samples += 1
            case .failure(let issue):
                try report(issue, &state)
            }
        }
    }
}

/// The stored sample of a parsed entry: its image decoded (JPEG, PNG, WebP) and resized.
private func decoded(_ entry: WebDatasetEntry, _ resizer: ImportResizer, shard: String) -> Result<Sample, WebDatasetIssue> {
    let source = entry.imageMember   // the issue names the shard
    let image: RGBImage
    do { image = try decodeImage(data: entry.imageBytes, source: source) } catch {
        return .failure(WebDatasetIssue(shard: shard, member: entry.imageMember, kind: .corruptImage, reason: "\(error)"))
    }
    do {
        return .success(Sample(id: entry.key, image: try resizer.stored(image, source: source), shortCaptions: entry.shorts,
                               long: entry.long))
    } catch {
        return .failure(WebDatasetIssue(shard: shard, member: entry.imageMember, kind: .refusedImage, reason: "\(error)"))
    }
}
