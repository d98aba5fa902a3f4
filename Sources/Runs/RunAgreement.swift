import Checkpointing
import Communication
import Configuration
import Datasets
import Formats
import Foundation
import Models
import Training

/// What every rank of a training job must share, compared before anything depends on it
/// (see `RankAgreement`): first the command (configuration and run-shaping flags), before any
/// other collective; then, once loaded, the data, the base model, the trainable tensors and the
/// checkpoint resumed from. A rank that differs would otherwise hang a collective of another
/// size, corrupt memory, or train a silently diverging replica.
enum RunAgreement {
    /// The first collective of a run: the resolved configuration and `--resume` / `--stop-at`.
    static func checkCommand(_ config: ResolvedConfig, resume: String?, stopAt: Int?, on communicator: Communicator) throws {
        try RankAgreement.check([AgreementItem(
            name: "configuration", text: commandText(config, resume: resume, stopAt: stopAt),
            hint: "Every rank must run the same command with the same configuration file and flags.", detailed: true)],
            on: communicator)
    }

    /// The configuration (`ResolvedConfig.agreementLines`), then the flags the config lacks.
    static func commandText(_ config: ResolvedConfig, resume: String?, stopAt: Int?) -> String {
        var lines = config.agreementLines
        lines.append("--resume: " + (resume.map { $0 == "auto" ? $0 : ResolvedConfig.canonicalPath($0) } ?? "(not given)"))
        lines.append("--stop-at: " + (stopAt.map(String.init) ?? "(not given)"))
        return lines.joined(separator: "\n")
    }

    /// The second check, after loading and before the next collective.
    static func checkLoaded(dataset: Dataset, base: BaseFingerprint, model: VisionLanguageModel<Float>,
                            resumed: (path: String, state: CheckpointState)?, on communicator: Communicator) throws {
        guard communicator.size > 1 else { return }   // nothing to compare, no files to re-read
        let layout = model.parameters.trainable.map { "\($0.name) \($0.shape)" }.joined(separator: "\n")
        try RankAgreement.check([
            AgreementItem(name: "data set", text: try datasetText(dataset),
                          hint: "Their \(ShardSchema.descriptionFile) or shard files differ: every rank must see the same data directory (a shared file system)."),
            AgreementItem(name: "base model", text: base.description,
                          hint: "Their model directories hold different models: every rank must load the same one."),
            AgreementItem(name: "trainable tensors", text: layout,
                          hint: "Their trainable tensors (names and shapes) differ: use the same model and configuration on every rank."),
            AgreementItem(name: "compute precision", text: model.parameters.compute.rawValue,
                          hint: "memory.compute auto chose bf16 on hosts with native bf16 dot products and fp32 on the others: set memory.compute to fp32 (or bf16, on hosts that all have it)."),
            AgreementItem(name: "checkpoint to resume from", text: resumed.map { "\($0.path) at step \($0.state.step)" } ?? "fresh",
                          hint: "They read different checkpoint files under one name: put run_dir on a file system every rank shares."),
        ], on: communicator)
    }

    /// The data set as every rank loaded it: dataset.json's description in canonical form. It
    /// holds each shard's name and count and (format 2) its CRC-32 and size, so shards with other
    /// bytes under the same names differ too, without reading or stat-ing anything again.
    static func datasetText(_ dataset: Dataset) throws -> String {
        return String(decoding: try JSONOutput.encode(dataset.description, style: .compact), as: UTF8.self)
    }
}
