import Kernels

/// LayerNorm (CLIP: weight and bias) or RMSNorm (Llama: weight only), over the last dimension.
public enum NormKind: Sendable, Equatable { case layerNorm, rmsNorm }

public final class Norm<T: KernelScalar>: @unchecked Sendable {
    public typealias Kind = NormKind
    public let kind: Kind
    public let weight: Parameter<T>   // (dim)
    public let bias: Parameter<T>?    // (dim), LayerNorm only
    public let eps: T
    public var dim: Int { weight.count }

    public init(kind: Kind, weight: Parameter<T>, bias: Parameter<T>?, eps: Double) {
        precondition((kind == .layerNorm) == (bias != nil), "Norm \(weight.name): LayerNorm needs a bias, RMSNorm has none")
        self.kind = kind
        self.weight = weight
        self.bias = bias
        self.eps = T(eps)
    }

    /// Per-row statistics the backward needs.
    public final class Tape: @unchecked Sendable {
        let mean = GrowableBuffer<T>()  // (rows), LayerNorm only
        let rstd = GrowableBuffer<T>()  // (rows)
        public init() {}
    }

    /// x: (rows, dim) -> y: (rows, dim), overwritten.
    public func forward(_ x: UnsafePointer<T>, rows: Int, into y: UnsafeMutablePointer<T>, tape: Tape) {
        let rstd = tape.rstd.reserve(rows)
        switch kind {
        case .layerNorm:
            layerNormForward(x: x, weight: weight.value, bias: bias!.value, eps: eps, y: y,
                             mean: tape.mean.reserve(rows), rstd: rstd, rows: rows, dim: dim)
        case .rmsNorm:
            rmsNormForward(x: x, weight: weight.value, eps: eps, y: y, rstd: rstd, rows: rows, dim: dim)
        }
    }

    /// dx += d(loss)/dx; parameter gradients added when trainable.
    public func backward(_ dy: UnsafePointer<T>, input x: UnsafePointer<T>, rows: Int,
                         dx: UnsafeMutablePointer<T>?, tape: Tape) {
        switch kind {
        case .layerNorm:
            layerNormBackward(dy: dy, x: x, weight: weight.value, mean: tape.mean.pointer, rstd: tape.rstd.pointer,
                              dx: dx, dWeight: weight.gradient, dBias: bias!.gradient, rows: rows, dim: dim)
        case .rmsNorm:
            rmsNormBackward(dy: dy, x: x, weight: weight.value, rstd: tape.rstd.pointer,
                            dx: dx, dWeight: weight.gradient, rows: rows, dim: dim)
        }
    }
}
