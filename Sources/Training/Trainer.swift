import Communication
import Configuration
import Dispatch
import Foundation
import Kernels
import Models

/// Where a step's pairs come from: the rank's share of global batch `step`.
package protocol TrainingData: AnyObject {
    func batch(step: Int, rank: Int, split: BatchSplit) throws -> TrainingBatch
    /// Optimizer steps in one pass over the data at this global batch size.
    func stepsPerEpoch(_ split: BatchSplit) -> Int
}

package struct TrainingError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The training loop: steps, parameter updates, progress lines and metrics.jsonl.
package final class Trainer {
    package let settings: RunSettings
    package let step: TrainingStep
    package let update: ParameterUpdate
    let data: TrainingData
    let communicator: Communicator
    let metrics: MetricsLog?
    let logEvery: Int
    let say: (String) -> Void
    /// Called after each completed step with its number (checkpointing hooks in here).
    package var afterStep: ((Int) throws -> Void)?
    /// The newest checkpoint written so far (named in the error when the loss stops being finite).
    package var lastCheckpoint: () -> String? = { nil }
    /// Set from a signal handler: the loop stops at the next step boundary.
    package var stopRequested: () -> Bool = { false }
    package private(set) var completedSteps: Int

    package init(settings: RunSettings, step: TrainingStep, update: ParameterUpdate, data: TrainingData,
                communicator: Communicator, runDirectory: URL, logEvery: Int, startStep: Int = 0,
                say: @escaping (String) -> Void) throws {
        self.settings = settings
        self.step = step
        self.update = update
        self.data = data
        self.communicator = communicator
        self.logEvery = max(logEvery, 1)
        self.say = say
        completedSteps = startStep
        metrics = communicator.rank == 0 ? try MetricsLog(file: runDirectory.appendingPathComponent("metrics.jsonl"), keepSteps: startStep) : nil
    }

    /// Trains from `completedSteps` to `settings.steps` (or until a stop is requested).
    package func run() throws {
        let started = DispatchTime.now().uptimeNanoseconds
        var windowStart = started, windowSamples = 0, windowTokens = 0, windowFlops = 0.0
        let firstStep = completedSteps
        for index in firstStep..<settings.steps {
            if stopRequested() { break }
            let stepStart = DispatchTime.now().uptimeNanoseconds
            let batch = try data.batch(step: index, rank: communicator.rank, split: settings.batch)
            let result = try step.run(batch, step: index)
            guard result.loss.isFinite else {
                throw TrainingError("step \(index + 1): the loss is not finite (total \(result.loss), contrastive \(result.contrastiveLoss), "
                    + "next-token \(result.ntpLoss)). Parameters were not updated. Last good checkpoint: "
                    + (lastCheckpoint().map { "\($0) (resume from it with --resume \($0), perhaps with a lower optimizer.lr)" }
                        ?? "none written yet (lower optimizer.lr and start again)") + ".")
            }
            let outcome = update.apply(step: index)
            completedSteps = index + 1
            let now = DispatchTime.now().uptimeNanoseconds
            let seconds = Double(now - stepStart) / 1e9
            windowSamples += settings.globalBatch
            windowTokens += result.tokens
            windowFlops += result.flops
            let scale = step.model.parameters.contains(ObjectiveParameterName.logitScale)
                ? Double(step.model.parameters[ObjectiveParameterName.logitScale].value[0]) : step.settings.fixedLogitScale
            let record = MetricsRecord(step: completedSteps, loss: result.loss, contrastiveLoss: result.contrastiveLoss, ntpLoss: result.ntpLoss,
                                       lr: outcome.learningRate, logitScale: Double.exp(scale), gradNorm: outcome.gradientNorm,
                                       samplesPerSecond: Double(settings.globalBatch) / seconds, tokensPerSecond: Double(result.tokens) / seconds,
                                       gflops: result.flops / seconds / 1e9, seconds: seconds,
                                       forwardSeconds: result.timing.vision + result.timing.forward, backwardSeconds: result.timing.backward,
                                       communicationSeconds: result.timing.communication,
                                       maskedKeys: step.settings.maskDuplicates ? result.maskedKeys : nil, flops: result.flops)
            try metrics?.append(record)
            if communicator.rank == 0 && (completedSteps % logEvery == 0 || completedSteps == settings.steps || completedSteps == firstStep + 1) {
                let window = Double(now - windowStart) / 1e9
                let elapsed = Double(now - started) / 1e9
                let remaining = Double(settings.steps - completedSteps) * elapsed / Double(completedSteps - firstStep)
                say(progressLine(record, samplesPerSecond: Double(windowSamples) / window, tokensPerSecond: Double(windowTokens) / window,
                                 gflops: windowFlops / window / 1e9, eta: remaining))
                windowStart = now; windowSamples = 0; windowTokens = 0; windowFlops = 0
            }
            try afterStep?(completedSteps)
        }
    }

    func progressLine(_ r: MetricsRecord, samplesPerSecond: Double, tokensPerSecond: Double, gflops: Double, eta: Double) -> String {
        let width = String(settings.steps).count
        let stepText = String(repeating: " ", count: max(0, width - String(r.step).count)) + String(r.step)
        return String(format: "step %@/%d  loss %.4f (contrastive %.4f, ntp %.4f)  scale %.1f  lr %.2e  |g| %.3f  %.1f samples/s  %.0f tok/s  %.1f GFLOP/s  ETA %@",
                      stepText, settings.steps, r.loss, r.contrastiveLoss, r.ntpLoss, r.logitScale, r.lr, r.gradNorm,
                      samplesPerSecond, tokensPerSecond, gflops, formatDuration(eta))
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
}
