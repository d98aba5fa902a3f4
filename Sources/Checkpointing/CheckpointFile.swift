import Foundation
import HDF5Files

/// Reads and writes one checkpoint file (schema in docs/checkpoints.md):
///   /parameters/<name>              float32, the trainable tensors
///   /optimizer/first_moment/<name>  float32, AdamW m
///   /optimizer/second_moment/<name> float32, AdamW v
///   /config                         string, the resolved YAML configuration
///   attributes on /: format_version, step, optimizer_steps, epoch, step_in_epoch, seed,
///   world_size, global_batch, base_fingerprint, base_description, parameter_names, and
///   complete = 1, written last.
public enum CheckpointFile {
    /// Writes `state` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
    /// the directory. A crash at any point leaves either no file or a complete one.
    public static func write(_ state: CheckpointState, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\(name).tmp-\(getpid())")
        do {
            let file = try H5File.create(temporary, mode: .truncate, tracksObjectTimes: false)
            func tensors(_ list: [NamedTensor], under group: String) throws {
                try file.createGroup(group)
                for tensor in list {
                    try file.write(tensor.values, shape: tensor.shape, to: "\(group)/\(tensor.name)")
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
            try file.setAttribute("complete", .int64(1))
            try file.close()
            try durableRename(from: temporary, to: path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CheckpointError("\(path): writing the checkpoint failed: \(error)")
        }
    }

    /// Reads a checkpoint, refusing an incomplete or foreign file with a message naming it.
    public static func read(_ path: String) throws -> CheckpointState {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError("\(path): no such checkpoint. `--resume auto` picks the latest one in the run directory.")
        }
        let file: H5File
        do { file = try H5File.open(path, mode: .readOnly) } catch {
            throw CheckpointError("\(path): not a readable checkpoint (\(error)). It may have been cut short; use an earlier one.")
        }
        defer { try? file.close() }
        do {
            guard try file.hasAttribute("complete"), try file.int64Attribute("complete") == 1 else {
                throw CheckpointError("\(path): the checkpoint is incomplete (no completion mark); use an earlier one.")
            }
            let version = try file.int64Attribute("format_version")
            guard version == CheckpointState.formatVersion else {
                throw CheckpointError("\(path): checkpoint format \(version); this Discern reads format \(CheckpointState.formatVersion).")
            }
            let names = try file.stringAttribute("parameter_names").split(separator: "\n").map(String.init)
            func tensors(under group: String) throws -> [NamedTensor] {
                try names.map { name in
                    let array = try file.read("\(group)/\(name)", as: Float.self)
                    return NamedTensor(name: name, shape: array.shape, values: array.values)
                }
            }
            return CheckpointState(
                parameters: try tensors(under: "/parameters"),
                firstMoments: try tensors(under: "/optimizer/first_moment"),
                secondMoments: try tensors(under: "/optimizer/second_moment"),
                step: Int(try file.int64Attribute("step")), optimizerSteps: Int(try file.int64Attribute("optimizer_steps")),
                epoch: Int(try file.int64Attribute("epoch")), stepInEpoch: Int(try file.int64Attribute("step_in_epoch")),
                seed: UInt64(bitPattern: try file.int64Attribute("seed")), worldSize: Int(try file.int64Attribute("world_size")),
                globalBatch: Int(try file.int64Attribute("global_batch")),
                configYAML: try file.readStrings("/config").values.first ?? "",
                baseFingerprint: try file.stringAttribute("base_fingerprint"),
                baseDescription: try file.stringAttribute("base_description"))
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError("\(path): not a Discern checkpoint or damaged: \(error)")
        }
    }
}
