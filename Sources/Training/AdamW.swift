import Configuration
import Kernels
import RealModule

/// AdamW (decoupled weight decay, Loshchilov & Hutter; torch.optim.AdamW's update) over the
/// model's flat trainable vector. Parameter groups are ranges of that vector: weight decay applies
/// only where the group says so (never on soft prompts, norms, biases or the logit scale).
package final class AdamW: @unchecked Sendable {
    package struct Group: Sendable, Equatable {
        package let range: Range<Int>
        package let weightDecay: Bool
        package init(range: Range<Int>, weightDecay: Bool) {
            self.range = range
            self.weightDecay = weightDecay
        }
    }

    package let beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    package let groups: [Group]
    /// First and second moments, same layout as the parameters (checkpointed).
    package let firstMoment: Buffer<Float>
    package let secondMoment: Buffer<Float>
    /// Updates applied so far (bias correction uses it; checkpointed).
    package var stepCount: Int = 0

    package init(count: Int, groups: [Group], beta1: Double, beta2: Double, eps: Double, weightDecay: Double) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.groups = groups
        firstMoment = Buffer(count: count)
        secondMoment = Buffer(count: count)
    }

    /// One update with learning rate `lr`:
    ///   p <- p * (1 - lr * wd)                       (decoupled decay, decayed groups only)
    ///   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    ///   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    package func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, lr: Double) {
        stepCount += 1
        let t = Double(stepCount)
        let correction1 = 1 - Double.pow(beta1, t), correction2 = 1 - Double.pow(beta2, t)
        let stepSize = Float(lr / correction1), rootCorrection2 = Float(correction2.squareRoot())
        let b1 = Float(beta1), b2 = Float(beta2), epsilon = Float(eps)
        let m = firstMoment.pointer, v = secondMoment.pointer
        for group in groups {
            let decay = group.weightDecay ? Float(1 - lr * weightDecay) : 1
            for i in group.range {
                let g = gradients[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                parameters[i] = parameters[i] * decay - stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + epsilon)
            }
        }
    }
}

/// Learning rate at a step: linear warmup from 0, then cosine / linear decay to
/// `minRatio * peak`, or constant.
package struct LearningRateSchedule: Sendable, Equatable {
    /// The shape after warmup (`optimizer.schedule`).
    package typealias Shape = RunConfiguration.Schedule
    package let peak: Double
    package let warmupSteps: Int
    package let totalSteps: Int
    package let shape: Shape
    package let minRatio: Double

    package init(peak: Double, warmupSteps: Int, totalSteps: Int, shape: Shape, minRatio: Double) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.shape = shape
        self.minRatio = minRatio
    }

    /// The rate for optimizer step `step` (0-based): warmup reaches the peak at step warmupSteps - 1.
    package func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step + 1) / Double(warmupSteps) }
        let span = max(totalSteps - warmupSteps, 1)
        let progress = min(Double(step - warmupSteps) / Double(span), 1)
        let floor = peak * minRatio
        switch shape {
        case .constant: return peak
        case .linear: return floor + (peak - floor) * (1 - progress)
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + Double.cos(Double.pi * progress))
        }
    }
}
