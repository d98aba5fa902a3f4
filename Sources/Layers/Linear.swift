import Kernels

/// A LoRA adapter on one linear layer, PEFT's layout and scaling:
///   y = x W^T + b + (alpha / r) * (x A^T) B^T,   A: (r, in), B: (out, r)
public struct LoRA<T: KernelScalar>: @unchecked Sendable {
    public let a: Parameter<T>        // lora_A.weight: (rank, inFeatures)
    public let b: Parameter<T>        // lora_B.weight: (outFeatures, rank)
    public let scaling: T             // alpha / rank (PEFT without rsLoRA)
    /// PEFT's lora_dropout: applied to the adapter's input only, in training (when a
    /// DropoutContext is given), with the survivors scaled by 1 / (1 - p).
    public let dropout: Double
    public var rank: Int { a.shape[0] }

    public init(a: Parameter<T>, b: Parameter<T>, alpha: Double, dropout: Double = 0) {
        precondition(a.shape.count == 2 && b.shape.count == 2 && a.shape[0] == b.shape[1], "LoRA: A \(a.shape) and B \(b.shape) do not fit")
        precondition(dropout >= 0 && dropout < 1, "LoRA dropout \(dropout) outside [0, 1)")
        self.a = a
        self.b = b
        self.dropout = dropout
        scaling = T(alpha / Double(a.shape[0]))
    }
}

/// nn.Linear with an optional LoRA adapter. Frozen weight and bias get no gradient work.
public final class Linear<T: KernelScalar>: @unchecked Sendable {
    public let weight: Parameter<T>   // (outFeatures, inFeatures)
    public let bias: Parameter<T>?    // (outFeatures)
    public let lora: LoRA<T>?
    public let inFeatures: Int
    public let outFeatures: Int
    /// Names this module in dropout masks.
    public let dropoutKey: UInt64

    public init(weight: Parameter<T>, bias: Parameter<T>?, lora: LoRA<T>?) {
        // A convolution whose kernel covers its whole input (Qwen2-VL's patch Conv3d) is this
        // map too: its weight reads as (out, product of the other dimensions).
        precondition(weight.shape.count >= 2, "Linear \(weight.name): weight must have at least 2 dimensions")
        self.weight = weight
        self.bias = bias
        self.lora = lora
        outFeatures = weight.shape[0]
        inFeatures = weight.shape.dropFirst().reduce(1, *)
        dropoutKey = stableHash(weight.name)
    }

    /// What the backward needs besides the input: the LoRA down-projection x A^T.
    public final class Tape: @unchecked Sendable {
        let down = GrowableBuffer<T>()      // (rows, rank)
        let dropped = GrowableBuffer<T>()   // (rows, inFeatures): dropout(x), when dropout is on
        var dropout: DropoutContext?        // the masks of the last forward, for its backward
        public init() {}
    }

    /// x with LoRA dropout applied, in the tape, or x itself when dropout is off.
    func adapterInput(_ x: UnsafePointer<T>, rows: Int, lora: LoRA<T>, dropout: DropoutContext?, tape: Tape) -> UnsafePointer<T> {
        tape.dropout = lora.dropout > 0 ? dropout : nil
        guard let context = tape.dropout else { return x }
        let dropped = tape.dropped.reserve(rows * inFeatures), keepScale = T(1 / (1 - lora.dropout))
        for r in 0..<rows {
            for c in 0..<inFeatures {
                dropped[r * inFeatures + c] = context.keeps(module: dropoutKey, row: r, column: c, probability: lora.dropout)
                    ? x[r * inFeatures + c] * keepScale : 0
            }
        }
        return UnsafePointer(dropped)
    }

    /// y = x W^T + b (+ scaling * (x A^T) B^T)
    ///   x: (rows, inFeatures), y: (rows, outFeatures), overwritten
    ///   dropout: LoRA dropout masks (training only); nil = no dropout
    public func forward(_ x: UnsafePointer<T>, rows: Int, into y: UnsafeMutablePointer<T>, tape: Tape?, dropout: DropoutContext? = nil) {
        if let bfloat16 = weight.bfloat16 {
            // bf16 compute (T is Float, ParameterTable checks): x narrowed for this one GEMM.
            let narrowed = bfloat16.operands.narrowed(floats(x), count: rows * inFeatures)
            linearForwardBFloat16(x: narrowed, weight: bfloat16.weight, bias: bias.map { floats($0.value) }, y: floats(y),
                                  rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        } else {
            // A 16-bit weight is widened into the model's shared scratch for this one GEMM.
            linearForward(x: x, weight: weight.readable(), bias: bias?.value, y: y,
                          rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
        guard let lora else { return }
        // down = dropout(x) A^T: (rows, rank); y += scaling * down B^T
        let tape = tape ?? Tape()
        let input = adapterInput(x, rows: rows, lora: lora, dropout: dropout, tape: tape)
        let down = tape.down.reserve(rows * lora.rank)
        gemm(transB: true, m: rows, n: lora.rank, k: inFeatures, input, lora.a.value, down)
        gemm(transB: true, m: rows, n: outFeatures, k: lora.rank, alpha: lora.scaling, down, lora.b.value, beta: 1, y)
    }

    /// Adds gradients into dx (if given) and into every trainable parameter's gradient.
    ///   dy: (rows, outFeatures), x: (rows, inFeatures) the forward input, dx: (rows, inFeatures) +=
    ///   scratch: at least rows * rank elements (LoRA only)
    public func backward(_ dy: UnsafePointer<T>, input x: UnsafePointer<T>, rows: Int,
                         dx: UnsafeMutablePointer<T>?, tape: Tape, scratch: GrowableBuffer<T>) {
        if let bfloat16 = weight.bfloat16 {
            // The weight is frozen: bf16 is only its input gradient; the bias gradient stays fp32.
            if let dx {
                let narrowed = bfloat16.operands.narrowed(floats(dy), count: rows * outFeatures)
                linearInputGradientBFloat16(dy: narrowed, weight: bfloat16.weight, dx: floats(dx),
                                            rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
            }
            linearBackward(dy: dy, x: x, weight: nil, dx: nil, dWeight: nil, dBias: bias?.gradient,
                           rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        } else {
            linearBackward(dy: dy, x: x, weight: dx == nil ? nil : weight.readable(), dx: dx, dWeight: weight.gradient, dBias: bias?.gradient,
                           rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
        guard let lora else { return }
        let rank = lora.rank
        // y += s * down B^T  =>  dB += s * dy^T down: (out, rows) x (rows, rank)
        if let dB = lora.b.gradient {
            gemm(transA: true, m: outFeatures, n: rank, k: rows, alpha: lora.scaling, dy, tape.down.pointer, beta: 1, dB)
        }
        guard lora.a.gradient != nil || dx != nil else { return }
        // ddown = s * dy B: (rows, out) x (out, rank)
        let dDown = scratch.reserve(rows * rank)
        gemm(m: rows, n: rank, k: outFeatures, alpha: lora.scaling, dy, lora.b.value, dDown)
        // down = dropout(x) A^T  =>  dA += ddown^T dropout(x): (rank, rows) x (rows, in)
        if let dA = lora.a.gradient {
            gemm(transA: true, m: rank, n: inFeatures, k: rows, dDown, tape.dropout == nil ? x : UnsafePointer(tape.dropped.pointer), beta: 1, dA)
        }
        guard let dx else { return }
        guard let context = tape.dropout else {
            // dx += ddown A: (rows, rank) x (rank, in)
            gemm(m: rows, n: inFeatures, k: rank, dDown, lora.a.value, beta: 1, dx)
            return
        }
        // dropout(x) = x * mask / (1 - p)  =>  dx += (ddown A) * mask / (1 - p)
        let dDropped = tape.dropped.reserve(rows * inFeatures)   // dropout(x) is no longer needed
        gemm(m: rows, n: inFeatures, k: rank, dDown, lora.a.value, dDropped)
        let keepScale = T(1 / (1 - lora.dropout))
        for r in 0..<rows {
            for c in 0..<inFeatures where context.keeps(module: dropoutKey, row: r, column: c, probability: lora.dropout) {
                dx[r * inFeatures + c] += dDropped[r * inFeatures + c] * keepScale
            }
        }
    }
}

/// A T pointer as the Float pointer it is in bf16 compute, where ParameterTable guarantees T is Float.
@inline(__always)
func floats<T: KernelScalar>(_ pointer: UnsafePointer<T>) -> UnsafePointer<Float> {
    UnsafeRawPointer(pointer).assumingMemoryBound(to: Float.self)
}

@inline(__always)
func floats<T: KernelScalar>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self)
}
