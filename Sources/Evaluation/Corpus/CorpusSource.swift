import DataImport
import Datasets
import Foundation
import Images
import Communication

/// One thing `discern embed` embeds: its id, its image, and the captions embedded beside it (its
/// short captions, else its long one; none: an image alone, no text embedding).
package struct CorpusItem {
    package let id: String
    package let image: RGBImage
    package let captions: [String]

    package init(id: String, image: RGBImage, captions: [String]) {
        (self.id, self.image, self.captions) = (id, image, captions)
    }
}

/// An item as read: embedded, or skipped for the reason given (webdataset's bad samples; the
/// other inputs stop on a bad item instead).
package enum CorpusEntry {
    case item(CorpusItem)
    case skipped(id: String, reason: String)
}

/// What `discern embed` reads under mpirun: a known number of items, read by index range, so
/// that fixed chunks of items can go to any rank and a rerun on another rank count finds the
/// same chunks.
package protocol CorpusSource: AnyObject {
    /// The number of items, known before any image is read (after `complete`).
    var count: Int { get }
    /// What the input is, with a digest of what was read of it (ids, paths, captions): ranks
    /// must agree on it, and a finished chunk is reused only when it is unchanged. Before
    /// `complete` it names what every rank must agree on before they share out the survey.
    var identity: String { get }
    /// Items `range` in order, images decoded; an error names the file (and line).
    func items(_ range: Range<Int>) throws -> [CorpusEntry]
    /// This rank's share of a pass over the input that the ranks divide among them (webdataset
    /// shards are counted this way), as numbers to be summed over the ranks; the same length on
    /// every rank whose `identity` agrees. No collective may run inside it.
    func survey(rank: Int, ranks: Int) throws -> [Int64]
    /// The survey summed over the ranks: `count` and `identity` are final afterwards.
    func complete(survey: [Int64]) throws
    /// Notes for the user once the input is known (damaged shards), printed by rank 0.
    var notes: [String] { get }
}

extension CorpusSource {
    package func survey(rank: Int, ranks: Int) throws -> [Int64] { [] }
    package func complete(survey: [Int64]) throws {}
    package var notes: [String] { [] }
}

/// A JSONL manifest, the one `discern prepare` reads (docs/data.md): every line is parsed and
/// every image's existence checked when it opens, so a bad line fails in seconds; images are
/// decoded when their chunk is embedded.
package final class ManifestCorpus: CorpusSource {
    package let path: String
    let entries: [ManifestItem]
    package let identity: String

    package init(path: String) throws {
        self.path = path
        entries = try readManifestItems(path)
        // One digest per line, folded FNV-style: no text of the whole manifest is built.
        let digest = entries.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { hash, entry in
            let line = RankAgreement.digest("\(entry.id)\t\(entry.imagePath)\t\(entry.captions.joined(separator: "\t"))")
            return (hash ^ UInt64(bitPattern: line)) &* 0x0000_0100_0000_01b3
        }
        identity = "manifest \(path) (\(entries.count) items, digest \(String(digest, radix: 16)))"
    }

    package var count: Int { entries.count }

    package func items(_ range: Range<Int>) throws -> [CorpusEntry] {
        try entries[range].map { entry in
            let image: RGBImage
            do { image = try loadImage(path: entry.imagePath) } catch {
                throw DatasetError(file: "\(path):\(entry.line)", "unreadable image: \(error)")
            }
            return .item(CorpusItem(id: entry.id, image: image, captions: entry.captions))
        }
    }
}

/// A split of a Discern data set directory (`discern prepare`, `discern synth`): the stored
/// images (the model's processor resizes them again if their size differs) and each sample's
/// short captions, else its long one.
package final class SplitCorpus: CorpusSource {
    let split: DatasetSplit
    package let identity: String

    package init(directory: String, split name: String) throws {
        // Shards are checksummed when first read, by the rank that reads them, not all up front.
        let dataset = try Dataset.open(directory, verifyShards: false)
        split = try dataset.split(name)
        let shards = split.description.shards.map { "\($0.file) \($0.count) \($0.crc32 ?? "-")" }.joined(separator: "\n")
        let digest = String(UInt64(bitPattern: RankAgreement.digest(shards)), radix: 16)
        identity = "split \(name) of \(directory) (\(split.count) items, digest \(digest))"
    }

    package var count: Int { split.count }

    package func items(_ range: Range<Int>) throws -> [CorpusEntry] {
        try range.map { index in
            let sample = try split.sample(at: index)
            return .item(CorpusItem(id: sample.id, image: RGBImage(width: sample.width, height: sample.height, pixels: sample.image),
                              captions: sample.shortCaptions.isEmpty ? sample.long.map { [$0] } ?? [] : sample.shortCaptions))
        }
    }
}
