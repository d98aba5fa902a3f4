import Checkpointing
import Kernels
import Layers
import Models
import Training

/// Moves the trainable state between a live run and a CheckpointState.
public enum TrainingState {
    public static func capture(model: LlavaModel<Float>, update: ParameterUpdate, completedSteps: Int, stepsPerEpoch: Int,
                               seed: UInt64, worldSize: Int, globalBatch: Int, configYAML: String, base: BaseFingerprint) -> CheckpointState {
        var parameters: [NamedTensor] = [], first: [NamedTensor] = [], second: [NamedTensor] = []
        var offset = 0
        let m = update.optimizer.firstMoment.pointer, v = update.optimizer.secondMoment.pointer
        for p in model.parameters.trainable {
            parameters.append(NamedTensor(name: p.name, shape: p.shape, values: Array(UnsafeBufferPointer(start: p.value, count: p.count))))
            first.append(NamedTensor(name: p.name, shape: p.shape, values: Array(UnsafeBufferPointer(start: m + offset, count: p.count))))
            second.append(NamedTensor(name: p.name, shape: p.shape, values: Array(UnsafeBufferPointer(start: v + offset, count: p.count))))
            offset += p.count
        }
        return CheckpointState(parameters: parameters, firstMoments: first, secondMoments: second, step: completedSteps,
                               optimizerSteps: update.optimizer.stepCount,
                               epoch: completedSteps / max(stepsPerEpoch, 1), stepInEpoch: completedSteps % max(stepsPerEpoch, 1),
                               seed: seed, worldSize: worldSize, globalBatch: globalBatch, configYAML: configYAML,
                               baseFingerprint: base.hash, baseDescription: base.description)
    }

    /// Loads parameters (and, when `update` is given, the optimizer moments) from a checkpoint,
    /// refusing any difference in names or shapes with a message listing them.
    public static func restore(_ state: CheckpointState, into model: LlavaModel<Float>, update: ParameterUpdate?, source: String) throws {
        let expected = model.parameters.trainable.map { "\($0.name) \($0.shape)" }
        let stored = state.parameters.map { "\($0.name) \($0.shape)" }
        guard expected == stored else {
            let missing = Set(expected).subtracting(stored).sorted().prefix(6), extra = Set(stored).subtracting(expected).sorted().prefix(6)
            var message = "\(source): its trainable tensors do not match this configuration.\n"
            if !missing.isEmpty { message += "  needed but not in the checkpoint: \(missing.joined(separator: ", "))\n" }
            if !extra.isEmpty { message += "  in the checkpoint but not needed: \(extra.joined(separator: ", "))\n" }
            throw CheckpointError(message + "  Use the configuration the checkpoint was trained with (it is stored in the file: h5dump -d /config).")
        }
        var offset = 0
        for (parameter, tensor) in zip(model.parameters.trainable, state.parameters) {
            parameter.value.update(from: tensor.values, count: parameter.count)
            if let update {
                (update.optimizer.firstMoment.pointer + offset).update(from: state.firstMoments.first { $0.name == tensor.name }!.values, count: parameter.count)
                (update.optimizer.secondMoment.pointer + offset).update(from: state.secondMoments.first { $0.name == tensor.name }!.values, count: parameter.count)
            }
            offset += parameter.count
        }
        update?.optimizer.stepCount = state.optimizerSteps
    }
}
