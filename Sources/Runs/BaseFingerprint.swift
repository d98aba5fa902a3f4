import Checkpointing
import Kernels
import Layers
import Models

/// A base model's identity for checkpoints: every tensor's name and shape plus the config facts
/// that change the computation. Two directories with the same fingerprint run the same model
/// shape; a resume against a different one is refused, naming what differs.
package struct BaseFingerprint: Sendable, Equatable {
    package let description: String
    /// 16 hex digits of the description's FNV-1a hash: a stable identity, not a security hash.
    package var hash: String {
        let digits = String(stableHash(description), radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The family's own settings (VisionLanguageConfig.fingerprintSettings), then every tensor.
    package init(config: any VisionLanguageConfig) {
        let lines = config.fingerprintSettings + config.modelDescription.tensors.map { "\($0.name) \($0.shape)" }
        description = lines.joined(separator: "\n")
    }

    /// Refuses a checkpoint trained on another base model, listing what differs.
    package func check(_ state: CheckpointState, path: String, model: String) throws {
        guard state.baseFingerprint == hash else {
            throw CheckpointError("\(path) was trained on a different base model than \(model):\n  "
                + differences(from: state.baseDescription).joined(separator: "\n  "))
        }
    }

    /// Lines of `other` that differ from this one, for the refusal message.
    package func differences(from other: String, limit: Int = 8) -> [String] {
        let mine = Set(description.split(separator: "\n").map(String.init))
        let theirs = Set(other.split(separator: "\n").map(String.init))
        let onlyTheirs = theirs.subtracting(mine).sorted().map { "checkpoint: \($0)" }
        let onlyMine = mine.subtracting(theirs).sorted().map { "model:      \($0)" }
        return Array((onlyTheirs + onlyMine).prefix(limit))
    }
}

