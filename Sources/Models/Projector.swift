import Kernels
import Layers

/// LLaVA's multi-modal projector: linear_1 -> activation (erf GELU) -> linear_2, mapping vision
/// features to the LLM's width.
public final class Projector<T: KernelScalar>: @unchecked Sendable {
    let linear1: Linear<T>   // (textHidden, visionHidden)
    let linear2: Linear<T>   // (textHidden, textHidden)
    let activation: ActivationFunction
    public let needsBackward: Bool

    public init(blueprint: ProjectorBlueprint, loraAlpha: Double, parameters p: ParameterTable<T>) {
        let lora = LoRABehaviour(alpha: loraAlpha, dropout: 0)
        linear1 = Linear(blueprint.linear1, parameters: p, lora: lora)
        linear2 = Linear(blueprint.linear2, parameters: p, lora: lora)
        activation = blueprint.activation
        needsBackward = p.trainsAny(of: blueprint.tensors)
    }

    public var outFeatures: Int { linear2.outFeatures }

    public final class Tape: @unchecked Sendable {
        let first = GrowableBuffer<T>(), activated = GrowableBuffer<T>()   // (rows, textHidden)
        let tape1 = Linear<T>.Tape(), tape2 = Linear<T>.Tape()
        public init() {}
    }

    /// features: (rows, visionHidden) -> y: (rows, textHidden), overwritten.
    public func forward(_ features: UnsafePointer<T>, rows: Int, into y: UnsafeMutablePointer<T>, tape: Tape) {
        let count = rows * linear1.outFeatures
        let first = tape.first.reserve(count), activated = tape.activated.reserve(count)
        linear1.forward(features, rows: rows, into: first, tape: tape.tape1)
        activationForward(activation, x: first, y: activated, count: count)
        linear2.forward(activated, rows: rows, into: y, tape: tape.tape2)
    }

    /// dFeatures += d(loss)/d(features) when given; parameter gradients added when trainable.
    public func backward(_ dy: UnsafePointer<T>, features: UnsafePointer<T>, rows: Int,
                         dFeatures: UnsafeMutablePointer<T>?, tape: Tape, scratch: BackwardScratch<T>) {
        let count = rows * linear1.outFeatures
        let dActivated = scratch.mlpOutput.reserveZeroed(count), dFirst = scratch.mlpGate.reserveZeroed(count)
        linear2.backward(dy, input: tape.activated.pointer, rows: rows, dx: dActivated, tape: tape.tape2, scratch: scratch.lora)
        activationBackward(activation, dy: dActivated, x: tape.first.pointer, dx: dFirst, count: count)
        linear1.backward(dFirst, input: features, rows: rows, dx: dFeatures, tape: tape.tape1, scratch: scratch.lora)
    }
}
