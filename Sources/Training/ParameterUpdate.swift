import Configuration
import Kernels
import Layers
import Models

/// After a step's gradient is summed over ranks: global-norm clipping, AdamW with parameter
/// groups, and the logit-scale clamp. Every rank applies the identical update to its replica.
package final class ParameterUpdate: @unchecked Sendable {
    package let optimizer: AdamW
    package let schedule: LearningRateSchedule
    package let gradientClip: Double
    package let maxLogitScale: Double
    let parameters: ParameterTable<Float>

    package init(parameters: ParameterTable<Float>, schedule: LearningRateSchedule, gradientClip: Double, maxLogitScale: Double,
                beta1: Double, beta2: Double, eps: Double, weightDecay: Double) {
        self.parameters = parameters
        self.schedule = schedule
        self.gradientClip = gradientClip
        self.maxLogitScale = maxLogitScale
        var groups: [AdamW.Group] = [], offset = 0
        for parameter in parameters.trainable {
            groups.append(AdamW.Group(range: offset..<offset + parameter.count, weightDecay: Self.decays(parameter)))
            offset += parameter.count
        }
        optimizer = AdamW(count: offset, groups: groups, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
    }

    /// The update a run's configuration asks for (`optimizer.*`, `loss.max_logit_scale`).
    package convenience init(parameters: ParameterTable<Float>, schedule: LearningRateSchedule, configuration: RunConfiguration) {
        let optimizer = configuration.optimizer
        self.init(parameters: parameters, schedule: schedule, gradientClip: optimizer.gradClip, maxLogitScale: configuration.loss.maxLogitScale,
                  beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps, weightDecay: optimizer.weightDecay)
    }

    /// Matrices decay (LoRA A/B, base weights in full training); soft prompts, the logit scale,
    /// norms, biases and the CLIP class/position embeddings do not.
    static func decays(_ parameter: Parameter<Float>) -> Bool {
        let name = parameter.name
        if name.hasPrefix("soft_prompts.") || name == ObjectiveParameterName.logitScale { return false }
        if name.contains("position_embedding") || name.contains("class_embedding") { return false }
        return parameter.shape.count == 2
    }

    package struct Outcome: Sendable, Equatable {
        package var learningRate: Double
        /// Global gradient norm before clipping.
        package var gradientNorm: Double
    }

    /// Applies optimizer step number `step` (0-based) from the summed gradients.
    package func apply(step: Int) -> Outcome {
        let gradients = parameters.trainableGradients
        var sum = 0.0
        for i in 0..<gradients.count { sum += Double(gradients[i]) * Double(gradients[i]) }
        let norm = sum.squareRoot()
        if gradientClip > 0 && norm > gradientClip {
            // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6)
            let coefficient = Float(gradientClip / (norm + 1e-6))
            for i in 0..<gradients.count { gradients[i] *= coefficient }
        }
        let lr = schedule.rate(at: step)
        optimizer.update(parameters: parameters.trainableValues.pointer, gradients: gradients.pointer, lr: lr)
        if parameters.contains(ObjectiveParameterName.logitScale) {
            let scale = parameters[ObjectiveParameterName.logitScale].value
            scale[0] = min(max(scale[0], 0), Float(maxLogitScale))
        }
        return Outcome(learningRate: lr, gradientNorm: norm)
    }
}
