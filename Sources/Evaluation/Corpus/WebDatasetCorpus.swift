import Communication
import DataImport
import Datasets
import Foundation

/// Webdataset tar shards (the samples `discern prepare --webdataset` would import, docs/data.md),
/// read in place. Items are the shards' samples in order; a pass over the headers counts them,
/// each rank taking every size-th shard. A sample that cannot be embedded (no image, an image that
/// does not decode, a bad .json) is skipped and listed in the output, or with `strict` stops the
/// run. Reading item i positions a reader in i's shard, walking headers only, and the next items
/// continue from there, so a chunk reads its shard's bytes once.
package final class WebDatasetCorpus: CorpusSource {
    let shards: [String]
    let fields: WebDatasetCaptionFields
    let strict: Bool
    /// Item index of each shard's first sample, and the total last (after `complete`).
    private var firstItems: [Int] = []
    package private(set) var identity: String
    package private(set) var notes: [String] = []
    /// The reader of the last `items` call, left where it stopped.
    private var cursor: (shard: Int, reader: WebDatasetSampleReader)?

    package init(patterns: [String], fields: WebDatasetCaptionFields, strict: Bool) throws {
        shards = try ShardPattern.expandAll(patterns)
        try ShardPattern.requireShardsExist(shards)
        self.fields = fields
        self.strict = strict
        // What the ranks must agree on before they divide the shards: the list, sizes and times.
        let listing = try shards.map(ShardFileIdentity.init).map { "\($0.path) \($0.bytes) \($0.modifiedSeconds).\($0.modifiedNanoseconds)" }
            .joined(separator: "\n")
        identity = "webdataset \(Self.describe(shards)) (listing digest \(String(UInt64(bitPattern: RankAgreement.digest(listing)), radix: 16)), "
            + "short field \(fields.short ?? "-"), long field \(fields.long ?? "-"))"
    }

    static func describe(_ shards: [String]) -> String {
        shards.count == 1 ? "shard \(shards[0])" : "\(shards.count) shards \(shards[0]) ... \(shards[shards.count - 1])"
    }

    package var count: Int { firstItems.last ?? 0 }

    /// Per shard: samples, digest, damaged (1/0); then the members of no sample, all shards together.
    package func survey(rank: Int, ranks: Int) throws -> [Int64] {
        let n = shards.count
        var totals = [Int64](repeating: 0, count: 3 * n + 1)
        for index in stride(from: rank, to: n, by: ranks) {
            let found = try surveyWebDatasetShard(shards[index])
            if let damage = found.damage, strict {
                throw DatasetError(file: shards[index], "damaged after its first \(found.samples) samples: \(damage) (--strict stops at "
                                   + "a damaged shard; without it the samples before the damage are embedded)")
            }
            (totals[index], totals[n + index]) = (Int64(found.samples), Int64(bitPattern: found.digest))
            totals[2 * n + index] = found.damage == nil ? 0 : 1
            totals[3 * n] += Int64(found.strayMembers)
        }
        return totals
    }

    package func complete(survey totals: [Int64]) throws {
        let n = shards.count
        precondition(totals.count == 3 * n + 1, "WebDatasetCorpus: a survey of \(totals.count) numbers for \(n) shards")
        firstItems = [0]
        for index in 0..<n {
            firstItems.append(firstItems[index] + Int(totals[index]))
            if totals[2 * n + index] != 0 {
                notes.append("\(shards[index]) is damaged after its first \(totals[index]) samples: those are embedded, the rest of "
                             + "the shard is skipped (re-download or re-create it)")
            }
        }
        if totals[3 * n] > 0 {
            notes.append("ignored \(totals[3 * n]) tar members that belong to no sample (a name without an extension, a link)")
        }
        guard count > 0 else {
            throw DatasetError(file: shards[0], "the \(Self.describe(shards)) hold no sample (members sharing a key, like 000001.jpg "
                               + "and 000001.txt); check that they are webdataset shards")
        }
        let digest = RankAgreement.digest(([identity] + totals[n..<2 * n].map { String($0) }).joined(separator: "\n"))
        identity = "webdataset \(Self.describe(shards)) (\(count) items, digest \(String(UInt64(bitPattern: digest), radix: 16)))"
    }

    package func items(_ range: Range<Int>) throws -> [CorpusEntry] {
        try range.map { index in
            let shard = shard(holding: index)
            return try entry(try sample(index - firstItems[shard], of: shard), shard: shard)
        }
    }

    /// The shard of item `index` (< count): the cursor's when it holds it, else by bisection,
    /// passing over empty shards (their first item is the next shard's).
    private func shard(holding index: Int) -> Int {
        if let shard = cursor?.shard, firstItems[shard] <= index, index < firstItems[shard + 1] { return shard }
        var (low, high) = (0, shards.count - 1)   // firstItems[low] <= index < firstItems[high + 1]
        while low < high {
            let middle = (low + high + 1) / 2
            if firstItems[middle] <= index { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Sample `position` of shard `shard`, from the cursor when it is there already.
    private func sample(_ position: Int, of shard: Int) throws -> WebDatasetSampleMembers {
        if cursor?.shard != shard || cursor!.reader.position != position {
            let reader = try WebDatasetSampleReader(path: shards[shard], dataFrom: position)
            while reader.position < position, reader.next() != nil {}
            cursor = (shard, reader)
        }
        guard let sample = cursor!.reader.next() else {
            throw DatasetError(file: shards[shard], "holds fewer samples than the \(firstItems[shard + 1] - firstItems[shard]) counted when "
                               + "this run started: it changed during the run; rerun the command")
        }
        return sample
    }

    private func entry(_ sample: WebDatasetSampleMembers, shard: Int) throws -> CorpusEntry {
        switch sample.embeddable(shard: shards[shard], fields: fields) {
        case .success(let (image, captions)):
            return .item(CorpusItem(id: sample.key, image: image, captions: captions))
        case .failure(let issue):
            if strict {
                throw DatasetError(file: issue.shard, "\(issue.member): \(issue.kind.rawValue): \(issue.reason) (--strict stops at "
                                   + "the first sample that cannot be embedded; without it the sample is skipped and listed in the output)")
            }
            return .skipped(id: sample.key, reason: issue.description)
        }
    }
}
