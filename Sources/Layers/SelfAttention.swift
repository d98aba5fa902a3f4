import Kernels

/// The shape of one batch of sequences going through a transformer: (batch, sequence) tokens
/// laid out as batch * sequence rows, plus the optional key padding mask and RoPE positions.
public struct SequenceLayout: @unchecked Sendable {
    public let batch: Int
    public let sequence: Int
    /// (batch, sequence): 1 = real token, 0 = padding; nil = no padding.
    public let keyMask: UnsafePointer<UInt8>?
    /// (batch * sequence) RoPE positions; nil for models without rotary embeddings.
    public let positions: UnsafePointer<Int32>?
    /// LoRA dropout masks for these rows (training); nil = no dropout.
    public let dropout: DropoutContext?

    public init(batch: Int, sequence: Int, keyMask: UnsafePointer<UInt8>? = nil, positions: UnsafePointer<Int32>? = nil,
                dropout: DropoutContext? = nil) {
        self.batch = batch
        self.sequence = sequence
        self.keyMask = keyMask
        self.positions = positions
        self.dropout = dropout
    }

    public var rows: Int { batch * sequence }
}

/// Multi-head self-attention with q/k/v/o projections (CLIP: biases, bidirectional; Llama: no
/// biases, causal, grouped-query heads, rotary embeddings).
public final class SelfAttention<T: KernelScalar>: @unchecked Sendable {
    public let q: Linear<T>, k: Linear<T>, v: Linear<T>, o: Linear<T>
    public let queryHeads: Int
    public let keyValueHeads: Int
    public let headDim: Int
    public let causal: Bool
    public let rotary: RotaryTable<T>?

    public init(q: Linear<T>, k: Linear<T>, v: Linear<T>, o: Linear<T>, queryHeads: Int, keyValueHeads: Int,
                headDim: Int, causal: Bool, rotary: RotaryTable<T>?) {
        precondition(q.outFeatures == queryHeads * headDim && k.outFeatures == keyValueHeads * headDim
                     && v.outFeatures == keyValueHeads * headDim && o.inFeatures == queryHeads * headDim,
                     "SelfAttention \(q.weight.name): projection sizes do not match the head layout")
        self.q = q; self.k = k; self.v = v; self.o = o
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.causal = causal
        self.rotary = rotary
    }

    func shape(_ layout: SequenceLayout) -> AttentionShape {
        AttentionShape(batch: layout.batch, sequence: layout.sequence, queryHeads: queryHeads,
                       keyValueHeads: keyValueHeads, headDim: headDim, causal: causal)
    }

    public final class Tape: @unchecked Sendable {
        let queries = GrowableBuffer<T>()        // (rows, queryHeads * headDim), after RoPE
        let keys = GrowableBuffer<T>()           // (rows, keyValueHeads * headDim), after RoPE
        let values = GrowableBuffer<T>()         // (rows, keyValueHeads * headDim)
        let probabilities = GrowableBuffer<T>()  // (batch, queryHeads, sequence, sequence)
        let context = GrowableBuffer<T>()        // (rows, queryHeads * headDim), input of o
        let qTape = Linear<T>.Tape(), kTape = Linear<T>.Tape(), vTape = Linear<T>.Tape(), oTape = Linear<T>.Tape()
        public init() {}
    }

    /// x: (rows, hidden) -> y: (rows, hidden), overwritten.
    public func forward(_ x: UnsafePointer<T>, layout: SequenceLayout, into y: UnsafeMutablePointer<T>, tape: Tape) {
        let rows = layout.rows, shape = shape(layout)
        let queries = tape.queries.reserve(rows * q.outFeatures)
        let keys = tape.keys.reserve(rows * k.outFeatures)
        let values = tape.values.reserve(rows * v.outFeatures)
        q.forward(x, rows: rows, into: queries, tape: tape.qTape, dropout: layout.dropout)
        k.forward(x, rows: rows, into: keys, tape: tape.kTape, dropout: layout.dropout)
        v.forward(x, rows: rows, into: values, tape: tape.vTape, dropout: layout.dropout)
        if let rotary {
            guard let positions = layout.positions else { preconditionFailure("rotary attention needs positions") }
            rotaryForward(queries, tokens: rows, heads: queryHeads, positions: positions, table: rotary)
            rotaryForward(keys, tokens: rows, heads: keyValueHeads, positions: positions, table: rotary)
        }
        let context = tape.context.reserve(rows * o.inFeatures)
        let saves = savesProbabilities
        attentionForward(q: queries, k: keys, v: values, keyMask: layout.keyMask, shape: shape, out: context,
                         probabilities: tape.probabilities.reserve(saves ? shape.probabilitiesCount : shape.forwardScratchCount()),
                         savesProbabilities: saves)
        o.forward(context, rows: rows, into: y, tape: tape.oTape, dropout: layout.dropout)
    }

    /// Whether forwards keep the attention probabilities for a backward. A module that is never
    /// differentiated (a frozen vision tower) turns this off: each forward then holds one
    /// (sequence, sequence) matrix per thread instead of batch x heads of them.
    public var savesProbabilities = true

    /// dx += d(loss)/dx for x the forward input; parameter gradients added when trainable.
    public func backward(_ dy: UnsafePointer<T>, input x: UnsafePointer<T>, layout: SequenceLayout,
                         dx: UnsafeMutablePointer<T>?, tape: Tape, scratch: BackwardScratch<T>) {
        let rows = layout.rows, shape = shape(layout)
        precondition(savesProbabilities, "SelfAttention.backward: this module's forwards do not save the attention probabilities")
        // y = context W_o^T  =>  dcontext
        let dContext = scratch.attentionContext.reserveZeroed(rows * o.inFeatures)
        o.backward(dy, input: tape.context.pointer, rows: rows, dx: dContext, tape: tape.oTape, scratch: scratch.lora)
        // context = attention(q, k, v)  =>  dq, dk, dv (w.r.t. the rotated q and k)
        let dq = scratch.queries.reserveZeroed(rows * q.outFeatures)
        let dk = scratch.keys.reserveZeroed(rows * k.outFeatures)
        let dv = scratch.values.reserveZeroed(rows * v.outFeatures)
        let dP = scratch.attentionScores.reserve(shape.backwardScratchCount())
        attentionBackward(dout: dContext, q: tape.queries.pointer, k: tape.keys.pointer, v: tape.values.pointer,
                          probabilities: tape.probabilities.pointer, shape: shape, dq: dq, dk: dk, dv: dv,
                          scratch: UnsafeMutableBufferPointer(start: dP, count: shape.backwardScratchCount()))
        // rotated = R(position) * projected  =>  dprojected = R^T drotated
        if let rotary, let positions = layout.positions {
            rotaryBackward(dq, tokens: rows, heads: queryHeads, positions: positions, table: rotary)
            rotaryBackward(dk, tokens: rows, heads: keyValueHeads, positions: positions, table: rotary)
        }
        q.backward(dq, input: x, rows: rows, dx: dx, tape: tape.qTape, scratch: scratch.lora)
        k.backward(dk, input: x, rows: rows, dx: dx, tape: tape.kTape, scratch: scratch.lora)
        v.backward(dv, input: x, rows: rows, dx: dx, tape: tape.vTape, scratch: scratch.lora)
    }
}

/// Temporaries of the backward pass, shared by every layer (the backward runs one layer at a
/// time), allocated on the first step and reused.
public final class BackwardScratch<T: KernelScalar>: @unchecked Sendable {
    public let attentionContext = GrowableBuffer<T>()
    public let queries = GrowableBuffer<T>()
    public let keys = GrowableBuffer<T>()
    public let values = GrowableBuffer<T>()
    public let attentionScores = GrowableBuffer<T>()
    public let lora = GrowableBuffer<T>()
    public let hidden = GrowableBuffer<T>()        // (rows, hidden): gradient of a normed input
    public let residual = GrowableBuffer<T>()      // (rows, hidden): gradient of the mid-layer stream
    public let mlpOutput = GrowableBuffer<T>()     // (rows, intermediate)
    public let mlpGate = GrowableBuffer<T>()       // (rows, intermediate)
    public let mlpUp = GrowableBuffer<T>()         // (rows, intermediate)
    public init() {}
}
