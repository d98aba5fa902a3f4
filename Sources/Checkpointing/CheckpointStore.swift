import Foundation
import HDF5Files

/// The checkpoints of one run directory: `step-00000100.h5` files, a `latest` pointer (a text
/// file naming the newest complete checkpoint, replaced atomically), and pruning to the last K.
package struct CheckpointStore: Sendable {
    package let directory: String
    package let keep: Int

    package init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = max(keep, 1)
    }

    package static func fileName(step: Int) -> String { String(format: "step-%08d.h5", step) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// Writes the checkpoint, then points `latest` at it, then deletes all but the newest `keep`.
    @discardableResult
    package func save(_ state: CheckpointState) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = Self.fileName(step: state.step)
        try CheckpointFile.write(state, to: path(name))
        try writePointer(name)
        for old in checkpointFiles().dropLast(keep) { try? FileManager.default.removeItem(atPath: path(old)) }
        return path(name)
    }

    /// Replaces `latest` atomically with a file naming `name`.
    func writePointer(_ name: String) throws {
        let pointer = path("latest"), temporary = path(".latest.tmp-\(getpid())")
        do {
            try Data((name + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
            try durableRename(from: temporary, to: pointer)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError("\(pointer): could not update the latest-checkpoint pointer: \(error)")
        }
    }

    /// Checkpoint file names in step order (temporary files of unfinished writes never match).
    package func checkpointFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".h5") }.sorted()
    }

    /// The newest checkpoint that reads back completely, or nil when there is none. Damaged or
    /// incomplete files are skipped with a warning naming them.
    package func latestComplete(warn: (String) -> Void) -> (path: String, state: CheckpointState)? {
        // The pointer normally names the newest file. A file only gets its final name once it is
        // complete and synced, so after a crash between that rename and the pointer update the
        // newest file is still the right choice: trust the files, newest first.
        for candidate in checkpointFiles().reversed().map(path) {
            do { return (candidate, try CheckpointFile.read(candidate, warn: warn)) } catch {
                warn("warning: skipping checkpoint \(candidate): \(error)")
            }
        }
        return nil
    }

    /// What every start and resume does first (rank 0): removes the temporary files of killed
    /// writers and points `latest` at the newest complete, verified checkpoint (removing a
    /// pointer that names none). Returns that checkpoint, read, for `--resume auto`.
    /// Never throws: under MPI only rank 0 repairs, and a failure here must not split the ranks.
    package func repair(note: (String) -> Void, warn: (String) -> Void) -> (path: String, state: CheckpointState)? {
        removeStaleTemporaryFiles(note: note)
        let newest = latestComplete(warn: warn)
        let pointer = path("latest")
        let named = (try? String(contentsOfFile: pointer, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if let newest {
            let name = (newest.path as NSString).lastPathComponent
            if named != name {
                note("note: \(pointer) named \(named.map { "'\($0)'" } ?? "nothing"); repointed to \(name), the newest complete checkpoint")
                do { try writePointer(name) } catch { warn("warning: \(error)") }
            }
        } else if named != nil {
            note("note: \(pointer) named '\(named!)' but the run directory holds no complete checkpoint; removed it")
            try? FileManager.default.removeItem(atPath: pointer)
        }
        return newest
    }

    /// Temporary files of this run directory's writers: `.step-*.h5.tmp-PID` and `.latest.tmp-PID`.
    /// Only a killed writer leaves them (a failed one removes its own), so at start they are stale.
    func removeStaleTemporaryFiles(note: (String) -> Void) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() where (name.hasPrefix(".step-") && name.contains(".h5.tmp-")) || name.hasPrefix(".latest.tmp-") {
            do {
                try FileManager.default.removeItem(atPath: path(name))
                note("note: removed \(path(name)), left by an interrupted checkpoint write")
            } catch {
                note("warning: cannot remove \(path(name)), left by an interrupted checkpoint write: \(error.localizedDescription)")
            }
        }
    }
}
