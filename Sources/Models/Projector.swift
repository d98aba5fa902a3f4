import Kernels
import Layers

/// LLaVA's multi-modal projector: linear_1 -> activation (erf GELU) -> linear_2, mapping vision
/// features to the LLM's width: a plain two-layer MLP between different widths.
public final class Projector<T: KernelScalar>: @unchecked Sendable {
    let mlp: FeedForward<T>
    public let outFeatures: Int
    public let needsBackward: Bool

    public init(blueprint: ProjectorBlueprint, loraAlpha: Double, parameters p: ParameterTable<T>) {
        let lora = LoRABehaviour(alpha: loraAlpha, dropout: 0)
        mlp = FeedForward(.plain(fc1: Linear(blueprint.linear1, parameters: p, lora: lora), activation: blueprint.activation,
                                 fc2: Linear(blueprint.linear2, parameters: p, lora: lora)))
        outFeatures = blueprint.linear2.outFeatures
        needsBackward = p.trainsAny(of: blueprint.tensors)
    }

    public typealias Tape = FeedForward<T>.Tape
    public typealias Scratch = FeedForward<T>.Scratch

    /// features: (rows, visionHidden) -> y: (rows, textHidden), overwritten.
    public func forward(_ features: UnsafePointer<T>, rows: Int, into y: UnsafeMutablePointer<T>, tape: Tape) {
        mlp.forward(features, rows: rows, into: y, tape: tape)
    }

    /// dFeatures += d(loss)/d(features) when given; parameter gradients added when trainable.
    public func backward(_ dy: UnsafePointer<T>, features: UnsafePointer<T>, rows: Int,
                         dFeatures: UnsafeMutablePointer<T>?, tape: Tape, scratch: Scratch) {
        mlp.backward(dy, input: features, rows: rows, dx: dFeatures, tape: tape, scratch: scratch)
    }
}
