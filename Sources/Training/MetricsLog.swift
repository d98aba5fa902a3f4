import Formats
import Foundation

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

/// Appends one JSON object per step to RUN_DIR/metrics.jsonl. On resume it first drops every
/// line past the resumed step, so the file reads as if the run had never stopped.
package final class MetricsLog {
    let handle: FileHandle
    let encoder = JSONOutput.encoder(.compact)

    package init(file: URL, keepSteps: Int) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var kept = Data()
        if keepSteps > 0, let existing = try? String(contentsOf: file, encoding: .utf8) {
            // A line that is not one strict record (a torn last line after a kill) is dropped.
            for line in existing.split(separator: "\n") {
                guard let record = try? StrictJSON.decode(MetricsRecord.self, from: Array(line.utf8), file: file.path),
                      record.step <= keepSteps else { continue }
                kept.append(Data((line + "\n").utf8))
            }
        }
        try kept.write(to: file, options: .atomic)
        handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    package func append(_ record: MetricsRecord) throws {
        var line = try encoder.encode(record)
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
    }
}
