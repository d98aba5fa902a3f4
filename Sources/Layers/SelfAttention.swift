import Kernels

/// The shape of one batch of sequences going through a transformer: (batch, sequence) tokens
/// laid out as batch * sequence rows, plus the optional key padding mask and RoPE positions.
public struct SequenceLayout: @unchecked Sendable {
    public let batch: Int
    public let sequence: Int
    /// (batch, sequence): 1 = real token, 0 = padding; nil = no padding.
    public let keyMask: UnsafePointer<UInt8>?
    /// (streams, batch * sequence) rotary positions, stream-major (RotaryTable.streams of them);
    /// nil for models without rotary embeddings.
    public let positions: UnsafePointer<Int32>?
    /// LoRA dropout masks for these rows (training); nil = no dropout.
    public let dropout: DropoutContext?
    /// Packed segments (batch 1): attention stays inside each (several images in one run of rows).
    public let segments: AttentionSegments?

    public init(batch: Int, sequence: Int, keyMask: UnsafePointer<UInt8>? = nil, positions: UnsafePointer<Int32>? = nil,
                dropout: DropoutContext? = nil, segments: AttentionSegments? = nil) {
        self.batch = batch
        self.sequence = sequence
        self.keyMask = keyMask
        self.positions = positions
        self.dropout = dropout
        self.segments = segments
    }

    public var rows: Int { batch * sequence }
}

/// How a layer projects its input to queries, keys and values: three Linears (CLIP, Llama,
/// Qwen2) or one fused Linear whose output is q | k | v side by side (Qwen2-VL's vision `qkv`).
public enum QKVProjection<T: KernelScalar>: @unchecked Sendable {
    case separate(q: Linear<T>, k: Linear<T>, v: Linear<T>)
    case fused(Linear<T>)
}

/// Multi-head self-attention with q/k/v/o projections (CLIP: biases, bidirectional; Llama: no
/// biases, causal, grouped-query heads, rotary embeddings; Qwen2-VL's vision: fused qkv,
/// 2-D rotary, attention within each image).
public final class SelfAttention<T: KernelScalar>: @unchecked Sendable {
    public let projection: QKVProjection<T>
    public let o: Linear<T>
    public let queryHeads: Int
    public let keyValueHeads: Int
    public let headDim: Int
    public let causal: Bool
    public let rotary: RotaryTable<T>?

    public convenience init(q: Linear<T>, k: Linear<T>, v: Linear<T>, o: Linear<T>, queryHeads: Int, keyValueHeads: Int,
                            headDim: Int, causal: Bool, rotary: RotaryTable<T>?) {
        self.init(projection: .separate(q: q, k: k, v: v), o: o, queryHeads: queryHeads, keyValueHeads: keyValueHeads,
                  headDim: headDim, causal: causal, rotary: rotary)
    }

    public init(projection: QKVProjection<T>, o: Linear<T>, queryHeads: Int, keyValueHeads: Int,
                headDim: Int, causal: Bool, rotary: RotaryTable<T>?) {
        let qWidth = queryHeads * headDim, kvWidth = keyValueHeads * headDim
        switch projection {
        case .separate(let q, let k, let v):
            precondition(q.outFeatures == qWidth && k.outFeatures == kvWidth && v.outFeatures == kvWidth,
                         "SelfAttention \(q.weight.name): projection sizes do not match the head layout")
        case .fused(let qkv):
            precondition(qkv.outFeatures == qWidth + 2 * kvWidth, "SelfAttention \(qkv.weight.name): fused size does not match the head layout")
        }
        precondition(o.inFeatures == qWidth, "SelfAttention \(o.weight.name): output projection does not match the head layout")
        self.projection = projection
        self.o = o
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.causal = causal
        self.rotary = rotary
    }

    var queryWidth: Int { queryHeads * headDim }
    var keyValueWidth: Int { keyValueHeads * headDim }

    func shape(_ layout: SequenceLayout) -> AttentionShape {
        AttentionShape(batch: layout.batch, sequence: layout.sequence, queryHeads: queryHeads,
                       keyValueHeads: keyValueHeads, headDim: headDim, causal: causal, segments: layout.segments)
    }

    public final class Tape: @unchecked Sendable {
        let queries = GrowableBuffer<T>()        // (rows, queryHeads * headDim), after RoPE
        let keys = GrowableBuffer<T>()           // (rows, keyValueHeads * headDim), after RoPE
        let values = GrowableBuffer<T>()         // (rows, keyValueHeads * headDim)
        let fused = GrowableBuffer<T>()          // (rows, q + k + v widths): a fused projection's output
        let probabilities = GrowableBuffer<T>()  // per block (queryHeads, length, length)
        let context = GrowableBuffer<T>()        // (rows, queryHeads * headDim), input of o
        let qTape = Linear<T>.Tape(), kTape = Linear<T>.Tape(), vTape = Linear<T>.Tape(), oTape = Linear<T>.Tape()
        public init() {}
    }

    /// x -> queries, keys, values in the tape (before rotary).
    func project(_ x: UnsafePointer<T>, layout: SequenceLayout, tape: Tape) {
        let rows = layout.rows, qw = queryWidth, kvw = keyValueWidth
        let queries = tape.queries.reserve(rows * qw), keys = tape.keys.reserve(rows * kvw), values = tape.values.reserve(rows * kvw)
        switch projection {
        case .separate(let q, let k, let v):
            q.forward(x, rows: rows, into: queries, tape: tape.qTape, dropout: layout.dropout)
            k.forward(x, rows: rows, into: keys, tape: tape.kTape, dropout: layout.dropout)
            v.forward(x, rows: rows, into: values, tape: tape.vTape, dropout: layout.dropout)
        case .fused(let qkv):
            let width = qkv.outFeatures, fused = tape.fused.reserve(rows * width)
            qkv.forward(x, rows: rows, into: fused, tape: tape.qTape, dropout: layout.dropout)
            for r in 0..<rows {
                let row = fused + r * width
                (queries + r * qw).update(from: row, count: qw)
                (keys + r * kvw).update(from: row + qw, count: kvw)
                (values + r * kvw).update(from: row + qw + kvw, count: kvw)
            }
        }
    }

    /// Backward of `project`: dx += from dq, dk, dv (gradients of the projections' outputs).
    func projectBackward(dq: UnsafeMutablePointer<T>, dk: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>, input x: UnsafePointer<T>,
                         rows: Int, dx: UnsafeMutablePointer<T>?, tape: Tape, scratch: Scratch) {
        switch projection {
        case .separate(let q, let k, let v):
            q.backward(dq, input: x, rows: rows, dx: dx, tape: tape.qTape, scratch: scratch.lora)
            k.backward(dk, input: x, rows: rows, dx: dx, tape: tape.kTape, scratch: scratch.lora)
            v.backward(dv, input: x, rows: rows, dx: dx, tape: tape.vTape, scratch: scratch.lora)
        case .fused(let qkv):
            let qw = queryWidth, kvw = keyValueWidth, width = qkv.outFeatures
            let dFused = scratch.fused.reserve(rows * width)
            for r in 0..<rows {
                let row = dFused + r * width
                row.update(from: dq + r * qw, count: qw)
                (row + qw).update(from: dk + r * kvw, count: kvw)
                (row + qw + kvw).update(from: dv + r * kvw, count: kvw)
            }
            qkv.backward(dFused, input: x, rows: rows, dx: dx, tape: tape.qTape, scratch: scratch.lora)
        }
    }

    /// x: (rows, hidden) -> y: (rows, hidden), overwritten.
    public func forward(_ x: UnsafePointer<T>, layout: SequenceLayout, into y: UnsafeMutablePointer<T>, tape: Tape) {
        let rows = layout.rows, shape = shape(layout)
        project(x, layout: layout, tape: tape)
        let queries = tape.queries.pointer, keys = tape.keys.pointer, values = tape.values.pointer
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
                         dx: UnsafeMutablePointer<T>?, tape: Tape, scratch: Scratch) {
        let rows = layout.rows, shape = shape(layout)
        precondition(savesProbabilities, "SelfAttention.backward: this module's forwards do not save the attention probabilities")
        // y = context W_o^T  =>  dcontext
        let dContext = scratch.context.reserveZeroed(rows * o.inFeatures)
        o.backward(dy, input: tape.context.pointer, rows: rows, dx: dContext, tape: tape.oTape, scratch: scratch.lora)
        // context = attention(q, k, v)  =>  dq, dk, dv (w.r.t. the rotated q and k)
        let dq = scratch.queries.reserveZeroed(rows * queryWidth)
        let dk = scratch.keys.reserveZeroed(rows * keyValueWidth)
        let dv = scratch.values.reserveZeroed(rows * keyValueWidth)
        let dP = scratch.scores.reserve(shape.backwardScratchCount())
        attentionBackward(dout: dContext, q: tape.queries.pointer, k: tape.keys.pointer, v: tape.values.pointer,
                          probabilities: tape.probabilities.pointer, shape: shape, dq: dq, dk: dk, dv: dv,
                          scratch: UnsafeMutableBufferPointer(start: dP, count: shape.backwardScratchCount()))
        // rotated = R(position) * projected  =>  dprojected = R^T drotated
        if let rotary, let positions = layout.positions {
            rotaryBackward(dq, tokens: rows, heads: queryHeads, positions: positions, table: rotary)
            rotaryBackward(dk, tokens: rows, heads: keyValueHeads, positions: positions, table: rotary)
        }
        projectBackward(dq: dq, dk: dk, dv: dv, input: x, rows: rows, dx: dx, tape: tape, scratch: scratch)
    }
}

extension SelfAttention {
    /// The backward's temporaries, shared by every layer of a stack (the backward runs one
    /// layer at a time), allocated on the first step and reused.
    public final class Scratch: @unchecked Sendable {
        let context = GrowableBuffer<T>()    // (rows, queryHeads * headDim): gradient of o's input
        let queries = GrowableBuffer<T>()
        let keys = GrowableBuffer<T>()
        let values = GrowableBuffer<T>()
        let fused = GrowableBuffer<T>()      // (rows, q + k + v widths): a fused projection's gradient
        let scores = GrowableBuffer<T>()     // one (longest, longest) dP per worker
        let lora = GrowableBuffer<T>()
        public init() {}
    }
}
