import Datasets
import Foundation
import Images
import Layers

/// Reads one webdataset tar shard sample by sample (consecutive members sharing a key, the rule of
/// `discern prepare --webdataset`), in archive order, for `discern embed`. Samples before
/// `dataFrom` are passed over reading their headers only, so positioning in an uncompressed shard
/// is a walk over headers, not over image bytes.
package final class WebDatasetSampleReader {
    package let path: String
    private let reader: TarReader
    private let dataFrom: Int
    /// The first member of the next sample, read while looking for the end of the current one.
    private var lookahead: (key: String, extension: String, member: TarMember)?
    private var ended = false
    /// Samples returned so far: the position of the next one in the shard.
    package private(set) var position = 0
    /// Why the shard ended early (a damaged header, a member cut short), when it did, and the key
    /// of the sample lost with the rest of the shard (nil when none was being read).
    package private(set) var damage: (message: String, lostSample: String?)?
    /// Members that belong to no sample: names without an extension, links, devices.
    package private(set) var strayMembers = 0

    /// Bytes of the shard file consumed so far, for progress.
    var bytesRead: Int { reader.bytesRead }

    package init(path: String, dataFrom: Int = 0) throws {
        self.path = path
        self.dataFrom = dataFrom
        reader = try TarReader(path: path)
    }

    /// The next sample, nil at the end of the shard or at damage (then `damage` says why: the
    /// sample being read when a header fails is lost with the rest of the shard). Members that
    /// belong to no sample go to `stray` (name, why), in archive order.
    package func next(stray: (String, String) -> Void = { _, _ in }) -> WebDatasetSampleMembers? {
        guard !ended else { return nil }
        var group = lookahead.map { WebDatasetGroup(key: $0.key, members: [($0.extension, $0.member)]) }
        lookahead = nil
        while true {
            let entry: TarEntry?
            do {
                entry = try reader.next { name in
                    // The member's sample: the current one when the key matches, else the next one.
                    let key = WebDatasetKey.split(name)?.key
                    let sample = group == nil || key == group?.key ? position : position + 1
                    return sample >= dataFrom
                }
            } catch {
                // A member cut short of another key ends the current sample first.
                ended = true
                let damagedKey = error.member.map { WebDatasetKey.split($0)?.key ?? $0 }
                damage = (error.message, damagedKey ?? group?.key)
                guard let done = group, let damagedKey, damagedKey != done.key else { return nil }
                return finish(done)
            }
            switch entry {
            case nil:
                ended = true
                return group.map(finish)
            case .folder?:
                continue
            case .other(let name)?:
                strayMembers += 1
                stray(name, "not a regular file (a link or a device); ignored")
            case .file(let member)?:
                guard let (key, ext) = WebDatasetKey.split(member.name) else {
                    strayMembers += 1
                    stray(member.name, "the name has no extension, so it belongs to no sample; ignored")
                    continue
                }
                guard let current = group else {
                    group = WebDatasetGroup(key: key, members: [(ext, member)])
                    continue
                }
                guard current.key == key else {
                    lookahead = (key, ext, member)
                    return finish(current)
                }
                group!.members.append((ext, member))
            }
        }
    }

    private func finish(_ group: WebDatasetGroup) -> WebDatasetSampleMembers {
        position += 1
        return WebDatasetSampleMembers(group: group)
    }
}

/// One sample's members as read from a shard (their bytes only from `dataFrom` on).
package struct WebDatasetSampleMembers {
    let group: WebDatasetGroup

    package var key: String { group.key }
    /// The member names, in archive order: what a digest of the input folds in.
    package var memberNames: [String] { group.members.map(\.member.name) }

    /// What `discern embed` makes of it: its image decoded and its captions (the short ones,
    /// else the long one; none: the image alone), or the problem that skips it, named by
    /// `shard` and the member (or the key).
    package func embeddable(shard: String, fields: WebDatasetCaptionFields) -> Result<(image: RGBImage, captions: [String]), WebDatasetIssue> {
        let parsed = WebDatasetEntry.parse(group, shard: shard, fields: fields, requireCaption: false) { _ in }
        return parsed.flatMap { entry in
            do {
                let image = try decodeImage(data: entry.imageBytes, source: entry.imageMember)
                return .success((image, entry.shorts.isEmpty ? entry.long.map { [$0] } ?? [] : entry.shorts))
            } catch {
                return .failure(WebDatasetIssue(shard: shard, member: entry.imageMember, kind: .corruptImage, reason: "\(error)"))
            }
        }
    }
}

/// What a pass over a shard's headers finds: its samples, a digest of their keys and member
/// names, and how it ended.
package struct WebDatasetShardSurvey: Sendable {
    package let samples: Int
    package let digest: UInt64
    package let damage: String?
    package let strayMembers: Int
}

/// Walks `path`'s headers (no image bytes are read from an uncompressed shard; a compressed one
/// is decompressed through).
package func surveyWebDatasetShard(_ path: String) throws -> WebDatasetShardSurvey {
    let reader = try WebDatasetSampleReader(path: path, dataFrom: .max)
    var names: [String] = []
    while let sample = reader.next() { names += sample.memberNames }
    return WebDatasetShardSurvey(samples: reader.position, digest: stableHash(names.joined(separator: "\n")),
                                 damage: reader.damage?.message, strayMembers: reader.strayMembers)
}
