import Checkpointing
import Kernels
import Layers
import Models
import Training

/// Moves the trainable state between a live run and a CheckpointState.
package enum TrainingState {
    package static func capture(model: VisionLanguageModel<Float>, update: ParameterUpdate, completedSteps: Int, stepsPerEpoch: Int,
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
    package static func restore(_ state: CheckpointState, into model: VisionLanguageModel<Float>, update: ParameterUpdate?, source: String) throws {
        let expected = model.parameters.trainable.map { "\($0.name) \($0.shape)" }
        let stored = state.parameters.map { "\($0.name) \($0.shape)" }
        guard expected == stored else {
            let missing = Set(expected).subtracting(stored).sorted().prefix(6), extra = Set(stored).subtracting(expected).sorted().prefix(6)
            var message = "\(source): its trainable tensors do not match this configuration.\n"
            if !missing.isEmpty { message += "  needed but not in the checkpoint: \(missing.joined(separator: ", "))\n" }
            if !extra.isEmpty { message += "  in the checkpoint but not needed: \(extra.joined(separator: ", "))\n" }
            throw CheckpointError(message + "  Use the configuration the checkpoint was trained with (it is stored in the file: h5dump -d /config).")
        }
        if update != nil { try checkMoments(state, source: source) }
        var offset = 0
        for (index, parameter) in model.parameters.trainable.enumerated() {
            parameter.value.update(from: state.parameters[index].values, count: parameter.count)
            if let update {
                (update.optimizer.firstMoment.pointer + offset).update(from: state.firstMoments[index].values, count: parameter.count)
                (update.optimizer.secondMoment.pointer + offset).update(from: state.secondMoments[index].values, count: parameter.count)
            }
            offset += parameter.count
        }
        update?.optimizer.stepCount = state.optimizerSteps
    }

    /// Both optimizer moments must hold, tensor by tensor, exactly the parameters' names and
    /// shapes: they are copied by count into the optimizer's flat buffers.
    static func checkMoments(_ state: CheckpointState, source: String) throws {
        for (group, moments) in [("first_moment", state.firstMoments), ("second_moment", state.secondMoments)] {
            guard moments.count == state.parameters.count else {
                throw CheckpointError("\(source): optimizer/\(group) holds \(moments.count) tensors for \(state.parameters.count) "
                    + "parameters; the checkpoint is damaged, use an earlier one.")
            }
            for (moment, parameter) in zip(moments, state.parameters) where moment.name != parameter.name || moment.shape != parameter.shape {
                throw CheckpointError("\(source): optimizer/\(group)/\(moment.name) \(moment.shape) does not match the parameter "
                    + "\(parameter.name) \(parameter.shape); the checkpoint is damaged, use an earlier one.")
            }
        }
    }
}
