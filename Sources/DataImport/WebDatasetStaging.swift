import Datasets
import Formats
import Foundation
import HDF5Files

/// Where a webdataset import keeps the finished tar shards between runs, so a rerun continues where
/// it stopped: `OUTPUT/.webdataset-SPLIT/NNNNN/` holds tar shard NNNNN's samples (a data set of
/// one split, "samples", already resized) and `NNNNN.json` its record, written atomically after
/// them. A shard counts as done only with a record matching its path, size, modification time and
/// the import settings; the final split is assembled from the staged samples in shard order, so
/// it is the same whether or not the import was interrupted. The folder is removed once the split
/// is in dataset.json.
struct WebDatasetStaging {
    let folder: String

    init(output: String, split: String) {
        folder = (output as NSString).appendingPathComponent(".webdataset-\(split)")
    }

    static let stagedSplit = "samples"

    func samplesDirectory(_ index: Int) -> String {
        (folder as NSString).appendingPathComponent(String(format: "%05d", index))
    }

    private func recordPath(_ index: Int) -> String { samplesDirectory(index) + ".json" }

    /// What was recorded for shard `index`, if it still describes `identity` with `settings`.
    func finished(_ index: Int, identity: ShardFileIdentity, settings: String) -> StagedShard? {
        guard let bytes = try? readFileBytes(recordPath(index)),
              let record = try? StrictJSON.decode(StagedShard.self, from: bytes, file: recordPath(index)),
              record.shard == identity, record.settings == settings else { return nil }
        return record
    }

    /// Removes whatever an earlier run left for shard `index` before it is imported again.
    func clear(_ index: Int) throws {
        for path in [recordPath(index), samplesDirectory(index)] where FileManager.default.fileExists(atPath: path) {
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw DatasetError(file: path, "is left from an earlier import and cannot be removed: \(error.localizedDescription)")
            }
        }
    }

    /// Records shard `index` as done (temporary file, fsync, rename).
    func record(_ staged: StagedShard, index: Int) throws {
        let path = recordPath(index), temporary = path + ".tmp"
        do {
            try JSONOutput.encode(staged, style: .document).write(to: URL(fileURLWithPath: temporary))
            try durableRename(from: temporary, to: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(file: path, "cannot be written: \(error)")
        }
    }

    func create() throws {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw DatasetError(file: folder, "cannot create the folder: \(error.localizedDescription)")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: folder) }
}

/// A tar shard as a rerun recognises it: a changed size or modification time means it is redone.
package struct ShardFileIdentity: Codable, Equatable {
    package let path: String
    package let bytes: Int64
    package let modifiedSeconds: Int64
    package let modifiedNanoseconds: Int64

    package init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DatasetError(file: path, "cannot be examined: \(String(cString: strerror(errno)))")
        }
        self.path = path
        bytes = Int64(info.st_size)
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        modifiedSeconds = Int64(modified.tv_sec)
        modifiedNanoseconds = Int64(modified.tv_nsec)
    }

    enum CodingKeys: String, CodingKey {
        case path, bytes, modifiedSeconds = "modified_seconds", modifiedNanoseconds = "modified_nanoseconds"
    }
}

/// The record of one finished tar shard: enough to restore its part of the summary.
struct StagedShard: Codable {
    let shard: ShardFileIdentity
    /// The import settings the samples were made with (sizing, caption fields).
    let settings: String
    let samples: Int
    let issues: [WebDatasetIssue]
}
