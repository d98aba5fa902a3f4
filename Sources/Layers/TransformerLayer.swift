import Kernels

/// A pre-norm transformer layer, the block both towers are made of:
///   mid = x + attention(norm1(x))
///   out = mid + feedForward(norm2(mid))
/// CLIP: LayerNorm, biased bidirectional attention, fc1/quick_gelu/fc2.
/// Llama: RMSNorm, causal grouped-query attention with RoPE, gated SiLU MLP.
public final class TransformerLayer<T: KernelScalar>: @unchecked Sendable {
    public let norm1: Norm<T>
    public let attention: SelfAttention<T>
    public let norm2: Norm<T>
    public let feedForward: FeedForward<T>
    public var hidden: Int { norm1.dim }

    public init(norm1: Norm<T>, attention: SelfAttention<T>, norm2: Norm<T>, feedForward: FeedForward<T>) {
        self.norm1 = norm1
        self.attention = attention
        self.norm2 = norm2
        self.feedForward = feedForward
    }

    public final class Tape: @unchecked Sendable {
        let normed1 = GrowableBuffer<T>()   // (rows, hidden): norm1(x)
        let middle = GrowableBuffer<T>()    // (rows, hidden): x + attention
        let normed2 = GrowableBuffer<T>()   // (rows, hidden): norm2(middle)
        let branch = GrowableBuffer<T>()    // (rows, hidden): a branch output before it is added
        let norm1Tape = Norm<T>.Tape(), norm2Tape = Norm<T>.Tape()
        let attentionTape = SelfAttention<T>.Tape()
        let feedForwardTape = FeedForward<T>.Tape()
        public init() {}
    }

    /// x: (rows, hidden) -> out: (rows, hidden), overwritten; out may not alias x.
    public func forward(_ x: UnsafePointer<T>, layout: SequenceLayout, into out: UnsafeMutablePointer<T>, tape: Tape) {
        let rows = layout.rows, count = rows * hidden
        let normed1 = tape.normed1.reserve(count), middle = tape.middle.reserve(count)
        let normed2 = tape.normed2.reserve(count), branch = tape.branch.reserve(count)
        norm1.forward(x, rows: rows, into: normed1, tape: tape.norm1Tape)
        attention.forward(normed1, layout: layout, into: branch, tape: tape.attentionTape)
        for i in 0..<count { middle[i] = x[i] + branch[i] }
        norm2.forward(middle, rows: rows, into: normed2, tape: tape.norm2Tape)
        feedForward.forward(normed2, rows: rows, into: branch, tape: tape.feedForwardTape, dropout: layout.dropout)
        for i in 0..<count { out[i] = middle[i] + branch[i] }
    }

    /// dx += d(loss)/dx given dout = d(loss)/d(out).
    public func backward(_ dOut: UnsafePointer<T>, input x: UnsafePointer<T>, layout: SequenceLayout,
                         dx: UnsafeMutablePointer<T>, tape: Tape, scratch: Scratch) {
        let rows = layout.rows, count = rows * hidden
        // out = middle + ff(norm2(middle))  =>  dmiddle = dout + norm2^T(ff^T(dout))
        let dMiddle = scratch.residual.reserve(count)
        dMiddle.update(from: dOut, count: count)
        let dNormed = scratch.hidden.reserveZeroed(count)
        feedForward.backward(dOut, input: tape.normed2.pointer, rows: rows, dx: dNormed, tape: tape.feedForwardTape, scratch: scratch.feedForward)
        norm2.backward(dNormed, input: tape.middle.pointer, rows: rows, dx: dMiddle, tape: tape.norm2Tape)
        // middle = x + attention(norm1(x))  =>  dx += dmiddle + norm1^T(attention^T(dmiddle))
        for i in 0..<count { dx[i] += dMiddle[i] }
        dNormed.update(repeating: 0, count: count)
        attention.backward(dMiddle, input: tape.normed1.pointer, layout: layout, dx: dNormed, tape: tape.attentionTape, scratch: scratch.attention)
        norm1.backward(dNormed, input: x, rows: rows, dx: dx, tape: tape.norm1Tape)
    }
}

extension TransformerLayer {
    /// The backward's temporaries: each block's own, plus the residual stream's.
    public final class Scratch: @unchecked Sendable {
        public let attention = SelfAttention<T>.Scratch()
        public let feedForward = FeedForward<T>.Scratch()
        let hidden = GrowableBuffer<T>()     // (rows, hidden): gradient of a normed input
        let residual = GrowableBuffer<T>()   // (rows, hidden): gradient of the mid-layer stream
        public init() {}
    }
}
