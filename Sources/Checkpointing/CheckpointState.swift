import Foundation

/// Everything a checkpoint holds, as plain values (docs/checkpoints.md). Writing and reading are
/// in CheckpointFile; this type is what training hands over and gets back.
package struct CheckpointState: Sendable, Equatable {
    /// 2: the file carries a CRC-32 seal in its user block (docs/checkpoints.md); 1 is still read.
    package static let formatVersion: Int64 = 2

    /// Trainable tensors under their Hugging Face (PEFT-style) names, in table order.
    package var parameters: [NamedTensor]
    /// AdamW first and second moments, same names and order as `parameters`.
    package var firstMoments: [NamedTensor]
    package var secondMoments: [NamedTensor]
    /// Optimizer steps completed (the next step to run has this 0-based index).
    package var step: Int
    /// AdamW's own update counter (equal to `step` unless a run changed optimizers).
    package var optimizerSteps: Int
    /// The data cursor of the next step: epoch and step within it.
    package var epoch: Int
    package var stepInEpoch: Int
    /// Seed of every random stream of the run. Discern's random streams (data order, adapter
    /// initialisation) are pure functions of (seed, epoch, step), so the seed IS their state.
    package var seed: UInt64
    package var worldSize: Int
    package var globalBatch: Int
    /// The full resolved configuration, YAML text.
    package var configYAML: String
    /// The base model's identity: config.json facts and every tensor's name and shape.
    package var baseFingerprint: String
    package var baseDescription: String

    package init(parameters: [NamedTensor], firstMoments: [NamedTensor], secondMoments: [NamedTensor], step: Int, optimizerSteps: Int,
                epoch: Int, stepInEpoch: Int, seed: UInt64, worldSize: Int, globalBatch: Int, configYAML: String,
                baseFingerprint: String, baseDescription: String) {
        self.parameters = parameters
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
        self.step = step
        self.optimizerSteps = optimizerSteps
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.seed = seed
        self.worldSize = worldSize
        self.globalBatch = globalBatch
        self.configYAML = configYAML
        self.baseFingerprint = baseFingerprint
        self.baseDescription = baseDescription
    }
}

package struct NamedTensor: Sendable, Equatable {
    package var name: String
    package var shape: [Int]
    package var values: [Float]
    package init(name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "NamedTensor \(name): shape \(shape) holds \(shape.reduce(1, *)) values, got \(values.count)")
        self.name = name
        self.shape = shape
        self.values = values
    }
}

package struct CheckpointError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
