import Kernels
import Layers
import Models

/// The embedding of each sequence: the final hidden state at its pooling row (the summary
/// token), L2-normalised.
public final class EmbeddingPooling<T: KernelScalar>: @unchecked Sendable {
    let pooled = GrowableBuffer<T>()   // (batch, hidden) before normalisation
    let norms = GrowableBuffer<T>()    // (batch)
    let output = GrowableBuffer<T>()   // (batch, hidden)
    public init() {}

    /// hidden: (rows, width) -> embeddings (batch, width), owned by this object.
    public func forward(_ hidden: UnsafePointer<T>, sequences: SequenceBatch, width: Int) -> UnsafeMutablePointer<T> {
        let batch = sequences.batch
        let pooled = pooled.reserve(batch * width), output = output.reserve(batch * width)
        for b in 0..<batch { (pooled + b * width).update(from: hidden + sequences.poolRows[b] * width, count: width) }
        l2NormalizeForward(x: pooled, y: output, norms: norms.reserve(batch), rows: batch, dim: width)
        return output
    }

    /// dEmbeddings: (batch, width) -> dHidden: (rows, width) += at the pooling rows.
    public func backward(_ dEmbeddings: UnsafePointer<T>, sequences: SequenceBatch, width: Int,
                         dHidden: UnsafeMutablePointer<T>, scratch: GrowableBuffer<T>) {
        let batch = sequences.batch
        let dPooled = scratch.reserveZeroed(batch * width)
        l2NormalizeBackward(dy: dEmbeddings, x: pooled.pointer, norms: norms.pointer, dx: dPooled, rows: batch, dim: width)
        for b in 0..<batch {
            let target = dHidden + sequences.poolRows[b] * width, source = dPooled + b * width
            for i in 0..<width { target[i] += source[i] }
        }
    }
}

/// Next-token prediction on the positions that carry a target: only those rows go through the
/// output head, so a batch of short captions after long image prefixes costs a few rows of
/// the (vocab x hidden) product, not all of them.
public final class NextTokenLoss<T: KernelScalar>: @unchecked Sendable {
    let selected = GrowableBuffer<T>()      // (targets, hidden)
    let logits = GrowableBuffer<T>()        // (targets, vocab)
    let logSumExp = GrowableBuffer<T>()     // (targets)
    let targetIds = GrowableArray<Int32>()  // (targets)
    let dLogits = GrowableBuffer<T>()
    let dSelected = GrowableBuffer<T>()
    let headTape = Linear<T>.Tape()
    let rowsUsed = GrowableArray<Int32>()   // (targets): the rows that carry a target
    var rowsUsedCount = 0
    var result = CrossEntropyResult(loss: 0, count: 0)
    public init() {}

    /// Mean cross-entropy over every position with a target; returns it and the token count.
    public func forward(_ hidden: UnsafePointer<T>, sequences: SequenceBatch, head: Linear<T>) -> CrossEntropyResult {
        let width = head.inFeatures, vocab = head.outFeatures
        let rows = rowsUsed.reserve(sequences.rows)
        var m = 0
        for r in 0..<sequences.rows where sequences.targets[r] != -100 {
            rows[m] = Int32(r)
            m += 1
        }
        rowsUsedCount = m
        let selected = selected.reserve(max(m, 1) * width), ids = targetIds.reserve(max(m, 1))
        for i in 0..<m {
            let r = Int(rows[i])
            (selected + i * width).update(from: hidden + r * width, count: width)
            ids[i] = sequences.targets[r]
        }
        let logits = logits.reserve(max(m, 1) * vocab)
        head.forward(selected, rows: m, into: logits, tape: headTape)
        result = crossEntropyForward(logits: logits, targets: ids, logSumExp: logSumExp.reserve(max(m, 1)), rows: m, vocab: vocab)
        return result
    }

    /// dHidden: (rows, width) += gradient of `scale * loss`; the head's weight gradient is added
    /// when it trains. `normalizer` overrides the token count the mean divides by: a step split
    /// over micro-batches and ranks divides every part by the GLOBAL count, so the parts sum to
    /// the gradient of one mean over the whole batch.
    public func backward(scale: T, normalizer: Int? = nil, head: Linear<T>, dHidden: UnsafeMutablePointer<T>, scratch: GrowableBuffer<T>) {
        let width = head.inFeatures, vocab = head.outFeatures, m = rowsUsedCount
        guard m > 0 else { return }
        let dLogits = dLogits.reserveZeroed(m * vocab)
        crossEntropyBackward(logits: logits.pointer, targets: targetIds.pointer, logSumExp: logSumExp.pointer, scale: scale,
                             count: normalizer ?? result.count, dLogits: dLogits, rows: m, vocab: vocab)
        let dSelected = dSelected.reserveZeroed(m * width)
        head.backward(dLogits, input: selected.pointer, rows: m, dx: dSelected, tape: headTape, scratch: scratch)
        for i in 0..<m {
            let target = dHidden + Int(rowsUsed.pointer[i]) * width, source = dSelected + i * width
            for j in 0..<width { target[j] += source[j] }
        }
    }

    /// The logits of the last forward: (targets, vocab), in row order of the targeted positions.
    public var lastLogits: UnsafePointer<T> { UnsafePointer(logits.pointer) }
}
