import Foundation
import HDF5Files
import Provenance

/// Reads and writes one checkpoint file (schema in docs/checkpoints.md):
///   /parameters/<name>              float32, the trainable tensors
///   /optimizer/first_moment/<name>  float32, AdamW m
///   /optimizer/second_moment/<name> float32, AdamW v
///   /config                         string, the resolved YAML configuration
///   attributes on /: format_version, step, optimizer_steps, epoch, step_in_epoch, seed,
///   world_size, global_batch, base_fingerprint, base_description, parameter_names, the writing
///   binary's build_version, build_commit, build_date, build_configuration, build_compiler
///   (metadata: the reader ignores them, and files without them load), and complete = 1, written last.
/// Since format 2 the file's 512-byte user block holds a CRC-32 seal (`FileSeal`) over the rest.
package enum CheckpointFile {
    static let remedy = "use an earlier checkpoint (`--resume auto` skips damaged ones)"

    /// Writes `state` to `path` atomically: a temporary file beside it, seal, fsync, rename,
    /// fsync of the directory. A crash at any point leaves either no file or a complete one; an
    /// error (a full disk) closes the file and removes the temporary file.
    package static func write(_ state: CheckpointState, to path: String) throws {
        try state.validate(source: path + " (being written)")
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\(name).tmp-\(getpid())")
        var file: H5File?
        do {
            file = try H5File.create(temporary, mode: .truncate, tracksObjectTimes: false, userBlock: true)
            try writeContents(state, to: file!)
            try file!.close()
            try FileSeal.seal(temporary)
            try durableRename(from: temporary, to: path)
        } catch {
            // Close before removing: a handle left open would make libhdf5 flush into the
            // full disk again at exit, and crash there.
            try? file?.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError("\(path): writing the checkpoint failed: \(error)")
        }
    }

    private static func writeContents(_ state: CheckpointState, to file: H5File) throws {
        func tensors(_ list: [NamedTensor], under group: String) throws {
            try file.createGroup(group)
            for tensor in list {
                try file.write(tensor.values, shape: tensor.shape, to: "\(group)/\(tensor.name)")
                    .setAttribute("crc32", .int64(Int64(tensor.checksum)))
            }
        }
        try tensors(state.parameters, under: "/parameters")
        try file.createGroup("/optimizer")
        try tensors(state.firstMoments, under: "/optimizer/first_moment")
        try tensors(state.secondMoments, under: "/optimizer/second_moment")
        try file.write([state.configYAML], shape: [], to: "/config")
        let attributes: [(String, H5AttributeValue)] = [
            ("format_version", .int64(CheckpointState.formatVersion)),
            ("step", .int64(Int64(state.step))), ("optimizer_steps", .int64(Int64(state.optimizerSteps))),
            ("epoch", .int64(Int64(state.epoch))), ("step_in_epoch", .int64(Int64(state.stepInEpoch))),
            ("seed", .int64(Int64(bitPattern: state.seed))), ("world_size", .int64(Int64(state.worldSize))),
            ("global_batch", .int64(Int64(state.globalBatch))),
            ("base_fingerprint", .string(state.baseFingerprint)), ("base_description", .string(state.baseDescription)),
            ("parameter_names", .string(state.parameters.map(\.name).joined(separator: "\n"))),
        ]
        for (key, value) in attributes { try file.setAttribute(key, value) }
        for (key, value) in BuildInfo.current.attributes { try file.setAttribute(key, .string(value)) }
        try file.setAttribute("complete", .int64(1))
    }

    /// Reads a checkpoint, refusing an incomplete, damaged or foreign file with a message naming
    /// it. The checksum is verified before libhdf5 sees the bytes; every tensor's shape is
    /// checked before it is read and every value after. `warn` gets the one-line note for a
    /// format 1 file (no checksum).
    /// A file without a seal is opened only with `allowUnsealed` (DISCERN_READ_UNSEALED=1).
    package static func read(_ path: String, warn: (String) -> Void = printWarning,
                            allowUnsealed: Bool = FileSeal.unsealedReadingAllowed) throws -> CheckpointState {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError("\(path): no such checkpoint. `--resume auto` picks the latest one in the run directory.")
        }
        let seal: FileSeal.Status
        do { seal = try FileSeal.verify(path, remedy: remedy) } catch {
            throw CheckpointError("\(error)")
        }
        if case .sealed = seal {} else if !allowUnsealed {
            throw CheckpointError("\(path): carries no checksum seal, so its bytes cannot be verified and it is not opened: a "
                + "checkpoint written by Discern before format 2, a damaged one, or not a Discern checkpoint. If an older Discern "
                + "wrote it and you trust it, run the command again with \(FileSeal.unsealedVariable)=1 (a run resumed from it "
                + "writes sealed checkpoints); otherwise \(remedy)")
        }
        let file: H5File
        do { file = try H5File.open(path, mode: .readOnly) } catch {
            throw CheckpointError("\(path): not a readable checkpoint (\(error)). It may have been cut short; use an earlier one.")
        }
        defer { try? file.close() }
        let state: CheckpointState
        do {
            let version = try checkHeader(file, path, seal: seal, warn: warn)
            state = try CheckpointReader(file: file, path: path, tensorChecksums: version >= 2).state()
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("\(path): not a Discern checkpoint or damaged: \(error)")
        }
        try state.validate(source: path)
        return state
    }

    /// The completion mark, the format version and whether that version must carry a seal.
    private static func checkHeader(_ file: H5File, _ path: String, seal: FileSeal.Status, warn: (String) -> Void) throws -> Int64 {
        guard try file.hasAttribute("complete"), try file.int64Attribute("complete") == 1 else {
            throw CheckpointError("\(path): the checkpoint is incomplete (no completion mark); use an earlier one.")
        }
        let version = try file.int64Attribute("format_version")
        guard version == CheckpointState.formatVersion || version == 1 else {
            throw CheckpointError("\(path): checkpoint format \(version); this Discern reads formats 1 and \(CheckpointState.formatVersion).")
        }
        switch (version, seal) {
        case (1, _):
            warn("warning: \(path): format 1 checkpoint (written before checksums): read without an integrity check")
        case (_, .unsealed), (_, .notHDF5):
            throw CheckpointError("\(path): checkpoint format \(version) carries a checksum but this file has none: "
                + "it was rewritten by another tool or is damaged; \(remedy)")
        default:
            break
        }
        return version
    }

    package static func printWarning(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
