import Checkpointing
import Foundation
import HDF5Files

/// Writes checkpoint files the way `CheckpointFile.write` lays them out but without its checks,
/// so tests can hand the reader what a damaged or hostile file holds (mutated shapes, NaN,
/// negative moments, bad attributes, broken name lists) under a valid checksum.
package struct RawCheckpoint {
    package var parameters: [NamedTensor]
    package var firstMoments: [NamedTensor]
    package var secondMoments: [NamedTensor]
    /// Written as the `parameter_names` attribute, one per line.
    package var names: [String]
    package var attributes: [String: Int64]
    package var configYAML: String
    package var baseFingerprint: String
    package var baseDescription: String
    /// False writes a plain HDF5 file without the checksum block (what format 1 was).
    package var sealed = true
    /// More string attributes on the root (the build_* metadata `CheckpointFile.write` adds);
    /// none by default, as in files written before they existed.
    package var strings: [String: String] = [:]

    package init(_ state: CheckpointState) {
        parameters = state.parameters
        firstMoments = state.firstMoments
        secondMoments = state.secondMoments
        names = state.parameters.map(\.name)
        attributes = ["format_version": CheckpointState.formatVersion, "step": Int64(state.step),
                      "optimizer_steps": Int64(state.optimizerSteps), "epoch": Int64(state.epoch),
                      "step_in_epoch": Int64(state.stepInEpoch), "seed": Int64(bitPattern: state.seed),
                      "world_size": Int64(state.worldSize), "global_batch": Int64(state.globalBatch), "complete": 1]
        configYAML = state.configYAML
        baseFingerprint = state.baseFingerprint
        baseDescription = state.baseDescription
    }

    package func write(to path: String) throws {
        let file = try H5File.create(path, mode: .truncate, tracksObjectTimes: false, userBlock: sealed)
        for (group, list) in [("/parameters", parameters), ("/optimizer/first_moment", firstMoments),
                              ("/optimizer/second_moment", secondMoments)] {
            try file.openOrCreateGroup(group)
            for tensor in list where try !file.exists("\(group)/\(tensor.name)") {
                let dataset = try file.write(tensor.values, shape: tensor.shape, to: "\(group)/\(tensor.name)")
                if (attributes["format_version"] ?? 0) >= 2 { try dataset.setAttribute("crc32", .int64(Int64(tensor.checksum))) }
            }
        }
        try file.write([configYAML], shape: [], to: "/config")
        for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, .int64(value)) }
        try file.setAttribute("base_fingerprint", .string(baseFingerprint))
        try file.setAttribute("base_description", .string(baseDescription))
        try file.setAttribute("parameter_names", .string(names.joined(separator: "\n")))
        for (key, value) in strings.sorted(by: { $0.key < $1.key }) { try file.setAttribute(key, .string(value)) }
        try file.close()
        if sealed { try FileSeal.seal(path) }
    }
}

/// Byte-level damage for integrity tests.
package enum FileDamage {
    /// Flips one bit of the byte at `offset` (negative: from the end).
    package static func flipBit(_ path: String, at offset: Int, bit: UInt8 = 0x10) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let index = offset >= 0 ? offset : data.count + offset
        data[index] ^= bit
        try data.write(to: URL(fileURLWithPath: path))
    }

    /// Zeroes the 4 KiB page starting at `offset`, clipped to the file.
    package static func zeroPage(_ path: String, at offset: Int) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let end = min(offset + 4096, data.count)
        data.replaceSubrange(offset..<end, with: Data(count: end - offset))
        try data.write(to: URL(fileURLWithPath: path))
    }
}
