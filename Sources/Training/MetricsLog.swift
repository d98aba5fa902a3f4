import Formats
import Foundation
import Provenance

/// One line of metrics.jsonl.
package struct MetricsRecord: Codable, Sendable, Equatable {
    package var step: Int
    package var loss: Double
    package var contrastiveLoss: Double
    package var ntpLoss: Double
    package var lr: Double
    package var logitScale: Double
    package var gradNorm: Double
    package var samplesPerSecond: Double
    package var tokensPerSecond: Double
    package var gflops: Double
    package var seconds: Double
    package var forwardSeconds: Double
    package var backwardSeconds: Double
    package var communicationSeconds: Double
    /// (query, key) entries of the global contrastive loss masked as duplicates
    /// (loss.mask_duplicates); absent in lines written before it existed.
    package var maskedKeys: Int? = nil

    enum CodingKeys: String, CodingKey {
        case step, loss, lr
        case contrastiveLoss = "contrastive_loss", ntpLoss = "ntp_loss", logitScale = "logit_scale", gradNorm = "grad_norm"
        case samplesPerSecond = "samples_per_s", tokensPerSecond = "tokens_per_s", gflops = "gflop_per_s", seconds = "step_seconds"
        case forwardSeconds = "forward_seconds", backwardSeconds = "backward_seconds", communicationSeconds = "communication_seconds"
        case maskedKeys = "masked_keys"
    }
}

/// The line every start of a run writes before its steps: the binary that ran them and the
/// step it started from (0, or the checkpoint's step on resume). A run's first line is one.
package struct MetricsStart: Codable, Sendable, Equatable {
    package var build: BuildInfo
    package var startStep: Int

    enum CodingKeys: String, CodingKey {
        case build
        case startStep = "start_step"
    }
}

/// Appends one JSON object per step to RUN_DIR/metrics.jsonl, after a `MetricsStart` line. On
/// resume it first drops every line past the resumed step, so the step lines read as if the run
/// had never stopped, and the start lines say which binary ran which steps.
package final class MetricsLog {
    let handle: FileHandle
    let encoder = JSONOutput.encoder(.compact)

    package init(file: URL, keepSteps: Int, build: BuildInfo = .current) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var kept = Data()
        if keepSteps > 0, let existing = try? String(contentsOf: file, encoding: .utf8) {
            for line in existing.split(separator: "\n") {
                guard let step = Self.step(of: line, file: file), step <= keepSteps else { continue }
                kept.append(Data((line + "\n").utf8))
            }
        }
        var start = try encoder.encode(MetricsStart(build: build, startStep: keepSteps))
        start.append(UInt8(ascii: "\n"))
        kept.append(start)
        try kept.write(to: file, options: .atomic)
        handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// The step a line belongs to: a record's step, or the step a start line resumed from; nil
    /// for a line that is neither (a torn last line after a kill), which is dropped.
    static func step(of line: Substring, file: URL) -> Int? {
        let bytes = Array(line.utf8)
        if let record = try? StrictJSON.decode(MetricsRecord.self, from: bytes, file: file.path) { return record.step }
        return (try? StrictJSON.decode(MetricsStart.self, from: bytes, file: file.path))?.startStep
    }

    package func append(_ record: MetricsRecord) throws {
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
