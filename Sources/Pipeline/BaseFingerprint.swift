import Kernels
import Models

/// A base model's identity for checkpoints: every tensor's name and shape plus the config facts
/// that change the computation. Two directories with the same fingerprint run the same model
/// shape; a resume against a different one is refused, naming what differs.
public struct BaseFingerprint: Sendable, Equatable {
    public let description: String
    public var hash: String { fnv1a64(description) }

    public init(config: LlavaConfig) {
        var lines = [
            "image_token_index \(config.imageTokenIndex)",
            "vision_feature_layer \(config.visionFeatureLayer)",
            "vision_feature_select_strategy \(config.visionFeatureSelectStrategy)",
            "projector_hidden_act \(config.projectorHiddenAct)",
            "vision hidden_act \(config.vision.hiddenAct) layer_norm_eps \(config.vision.layerNormEps)",
            "text rms_norm_eps \(config.text.rmsNormEps) rope_theta \(config.text.ropeTheta) heads \(config.text.numAttentionHeads)/\(config.text.numKeyValueHeads)",
            "tie_word_embeddings \(config.tieWordEmbeddings)",
        ]
        lines += config.baseParameterShapes.map { "\($0.name) \($0.shape)" }
        description = lines.joined(separator: "\n")
    }

    /// Lines of `other` that differ from this one, for the refusal message.
    public func differences(from other: String, limit: Int = 8) -> [String] {
        let mine = Set(description.split(separator: "\n").map(String.init))
        let theirs = Set(other.split(separator: "\n").map(String.init))
        let onlyTheirs = theirs.subtracting(mine).sorted().map { "checkpoint: \($0)" }
        let onlyMine = mine.subtracting(theirs).sorted().map { "model:      \($0)" }
        return Array((onlyTheirs + onlyMine).prefix(limit))
    }
}

/// 64-bit FNV-1a of the UTF-8 bytes, as 16 hex digits: a stable identity, not a security hash.
func fnv1a64(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01B3
    }
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
