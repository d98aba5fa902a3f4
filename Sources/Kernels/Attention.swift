import RealModule

/// Scaled dot-product multi-head attention with grouped-query heads, causal and key-padding
/// masks, forward and backward. Per (batch, head) it is three GEMMs and a softmax:
///
///   S = scale * Q K^T          (sequence, sequence)
///   P = softmax(mask(S))       row-wise; saved for the backward
///   O = P V                    (sequence, headDim)
///
/// q, k, v and out keep the layout the projections produce, (batch, sequence, heads, headDim):
/// one head of one sequence is a strided (sequence, headDim) matrix whose leading dimension is
/// heads * headDim, which `gemm` addresses through lda/ldb/ldc, so nothing is transposed or
/// copied. Grouped-query attention: query head h reads key/value head h / (queryHeads /
/// keyValueHeads), the order of HF's `repeat_kv`.
///
/// Masking: a key is hidden from a query when it lies in the future (causal, key j > query i)
/// or is padding (keyMask 0); its score becomes -infinity, so its probability is exactly 0.
/// A query row that sees no key at all (a left-pad query under causal + padding) has no
/// softmax; it gets P = 0, output 0 and gradient 0 instead of NaN. HF produces some finite
/// values for such pad rows, but they are never read (pooling and losses skip pad tokens), so
/// only the real rows are compared against it.

/// Sizes of one attention call; the same value goes to the forward and its backward.
public struct AttentionShape: Sendable, Equatable {
    public let batch: Int
    public let sequence: Int
    public let queryHeads: Int
    public let keyValueHeads: Int
    public let headDim: Int
    /// Query i sees keys j <= i only (decoder); false for the vision tower.
    public let causal: Bool
    /// Multiplies Q K^T; 1/sqrt(headDim) unless the model says otherwise.
    public let scale: Double

    public init(batch: Int, sequence: Int, queryHeads: Int, keyValueHeads: Int, headDim: Int,
                causal: Bool, scale: Double? = nil) {
        precondition(batch >= 0 && sequence >= 0 && headDim > 0 && queryHeads > 0 && keyValueHeads > 0,
                     "AttentionShape: invalid sizes batch \(batch) sequence \(sequence) heads \(queryHeads)/\(keyValueHeads) headDim \(headDim)")
        precondition(queryHeads % keyValueHeads == 0,
                     "AttentionShape: \(queryHeads) query heads are not a multiple of \(keyValueHeads) key/value heads")
        self.batch = batch
        self.sequence = sequence
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.causal = causal
        self.scale = scale ?? 1 / Double(headDim).squareRoot()
    }

    /// Query heads sharing one key/value head.
    @inlinable public var groupSize: Int { queryHeads / keyValueHeads }
    /// Elements of the saved probabilities, (batch, queryHeads, sequence, sequence).
    @inlinable public var probabilitiesCount: Int { batch * queryHeads * sequence * sequence }
    /// Elements of a forward's P when it is not saved: one (sequence, sequence) matrix per worker.
    @inlinable public func forwardScratchCount(workers: Int = KernelThreads.count) -> Int {
        max(min(workers, batch * queryHeads), 1) * sequence * sequence
    }
    /// Elements of the backward's dP scratch: one (sequence, sequence) matrix per worker thread.
    @inlinable public func backwardScratchCount(workers: Int = KernelThreads.count) -> Int {
        max(workers, 1) * sequence * sequence
    }
}

/// out = softmax(mask(scale * Q K^T)) V for every (batch, query head), in parallel over them.
///   q:   (batch, sequence, queryHeads, headDim)
///   k:   (batch, sequence, keyValueHeads, headDim)
///   v:   (batch, sequence, keyValueHeads, headDim)
///   keyMask: (batch, sequence), 1 = real token, 0 = padding; nil = every key is real
///   out: (batch, sequence, queryHeads, headDim), overwritten
///   probabilities: (batch, queryHeads, sequence, sequence), overwritten with P: the saved
///     state `attentionBackward` needs (exactly 0 at masked keys and on rows with no key).
///     With `savesProbabilities` false (a forward that will not be differentiated: a frozen
///     tower, inference) it is only scratch of `shape.forwardScratchCount()` elements, one
///     (sequence, sequence) slice per worker, and nothing of size batch x heads x S^2 exists.
@inlinable
public func attentionForward<T: KernelScalar>(
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, keyMask: UnsafePointer<UInt8>?,
    shape: AttentionShape, out: UnsafeMutablePointer<T>, probabilities: UnsafeMutablePointer<T>,
    savesProbabilities: Bool = true
) {
    let sequence = shape.sequence, headDim = shape.headDim, queryHeads = shape.queryHeads
    let queryStride = queryHeads * headDim, keyValueStride = shape.keyValueHeads * headDim
    let groupSize = shape.groupSize, causal = shape.causal, scale = T(shape.scale)
    let qs = SharedPointer(q), ks = SharedPointer(k), vs = SharedPointer(v), outs = SharedPointer(out)
    let ps = SharedPointer(probabilities), masks = keyMask.map { SharedPointer($0) }
    let tasks = shape.batch * queryHeads
    // Saved: task t writes P's slice t. Scratch: worker w reuses slice w for its tasks w, w + workers, ...
    let workers = savesProbabilities ? tasks : min(KernelThreads.count, tasks)
    parallelFor(workers) { range in
        for w in range {
          for task in stride(from: w, to: tasks, by: workers) {
            let b = task / queryHeads, h = task % queryHeads, g = h / groupSize
            let qh = qs.pointer + b * sequence * queryStride + h * headDim
            let kg = ks.pointer + b * sequence * keyValueStride + g * headDim
            let vg = vs.pointer + b * sequence * keyValueStride + g * headDim
            let oh = outs.pointer + b * sequence * queryStride + h * headDim
            let p = ps.pointer + (savesProbabilities ? task : w) * sequence * sequence
            // S = scale * Q K^T, written straight into P's storage.
            gemm(transB: true, m: sequence, n: sequence, k: headDim, alpha: scale,
                 qh, lda: queryStride, kg, ldb: keyValueStride, beta: 0, p, ldc: sequence)
            // P = softmax(mask(S)). Causal rows only normalise their first i + 1 entries;
            // the future part is set to exactly 0 rather than exponentiated.
            for i in 0..<sequence {
                let row = p + i * sequence
                let visible = causal ? i + 1 : sequence
                if let masks {
                    let mask = masks.pointer + b * sequence
                    for j in 0..<visible where mask[j] == 0 { row[j] = -T.infinity }
                }
                softmaxRow(row, row, count: visible)
                if visible < sequence { (row + visible).update(repeating: 0, count: sequence - visible) }
            }
            // O = P V
            gemm(m: sequence, n: headDim, k: sequence, p, lda: sequence, vg, ldb: keyValueStride,
                 beta: 0, oh, ldc: queryStride)
          }
        }
    }
}

/// Gradients of `attentionForward`, ADDED into dq, dk and dv; a nil gradient is not computed
/// (dv alone skips the dP GEMM and the softmax backward). Work is split by (batch, key/value
/// head): the query heads of one group all write the same dk/dv slice, so one worker owns the
/// whole group and writes never collide.
///   dout: (batch, sequence, queryHeads, headDim) gradient with respect to out
///   q, k, v: the forward's inputs, shapes as there
///   probabilities: (batch, queryHeads, sequence, sequence) P saved by the forward
///   dq: (batch, sequence, queryHeads, headDim), += ; nil = not needed
///   dk, dv: (batch, sequence, keyValueHeads, headDim), += ; nil = not needed
///   scratch: at least shape.backwardScratchCount(workers: 1) elements, one (sequence,
///     sequence) dP per worker; with fewer than KernelThreads.count of them, fewer workers run.
///     Contents on entry do not matter; they are garbage on exit.
/// The keyMask is not needed: P is exactly 0 where the forward masked, which zeroes dS there.
@inlinable
public func attentionBackward<T: KernelScalar>(
    dout: UnsafePointer<T>, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    probabilities: UnsafePointer<T>, shape: AttentionShape,
    dq: UnsafeMutablePointer<T>?, dk: UnsafeMutablePointer<T>?, dv: UnsafeMutablePointer<T>?,
    scratch: UnsafeMutableBufferPointer<T>
) {
    let sequence = shape.sequence, headDim = shape.headDim, queryHeads = shape.queryHeads
    let queryStride = queryHeads * headDim, keyValueStride = shape.keyValueHeads * headDim
    let groupSize = shape.groupSize, scale = T(shape.scale), square = sequence * sequence
    let tasks = shape.batch * shape.keyValueHeads
    if tasks == 0 || sequence == 0 || (dq == nil && dk == nil && dv == nil) { return }
    precondition(scratch.count >= square,
                 "attentionBackward: scratch has \(scratch.count) elements, needs at least \(square)")
    let workers = min(KernelThreads.count, tasks, scratch.count / square)
    let douts = SharedPointer(dout), qs = SharedPointer(q), ks = SharedPointer(k), vs = SharedPointer(v)
    let ps = SharedPointer(probabilities), scratchs = SharedPointer(scratch.baseAddress!)
    let dqs = dq.map { SharedPointer($0) }, dks = dk.map { SharedPointer($0) }, dvs = dv.map { SharedPointer($0) }
    // One scratch slice per worker index w; worker w takes tasks w, w + workers, ...
    parallelFor(workers) { range in
        for w in range {
            let dS = scratchs.pointer + w * square
            for task in stride(from: w, to: tasks, by: workers) {
                let b = task / shape.keyValueHeads, g = task % shape.keyValueHeads
                let kvOffset = b * sequence * keyValueStride + g * headDim
                let kg = ks.pointer + kvOffset, vg = vs.pointer + kvOffset
                for h in g * groupSize..<(g + 1) * groupSize {
                    let qOffset = b * sequence * queryStride + h * headDim
                    let qh = qs.pointer + qOffset, doh = douts.pointer + qOffset
                    let p = ps.pointer + (b * queryHeads + h) * square
                    // O = P V  ->  dV += P^T dO (summed over the group's query heads)
                    if let dvs {
                        gemm(transA: true, m: sequence, n: headDim, k: sequence, p, lda: sequence,
                             doh, ldb: queryStride, beta: 1, dvs.pointer + kvOffset, ldc: keyValueStride)
                    }
                    if dqs == nil && dks == nil { continue }
                    // O = P V  ->  dP = dO V^T
                    gemm(transB: true, m: sequence, n: sequence, k: headDim, doh, lda: queryStride,
                         vg, ldb: keyValueStride, beta: 0, dS, ldc: sequence)
                    // P = softmax(mask(S))  ->  dS = P * (dP - rowsum(dP * P)); masked entries
                    // and key-less rows have P = 0, so their dS is 0.
                    for i in 0..<sequence {
                        softmaxRowBackwardInPlace(y: p + i * sequence, gradient: dS + i * sequence, count: sequence)
                    }
                    // S = scale * Q K^T  ->  dQ += scale * dS K
                    if let dqs {
                        gemm(m: sequence, n: headDim, k: sequence, alpha: scale, dS, lda: sequence,
                             kg, ldb: keyValueStride, beta: 1, dqs.pointer + qOffset, ldc: queryStride)
                    }
                    // S = scale * Q K^T  ->  dK += scale * dS^T Q (summed over the group)
                    if let dks {
                        gemm(transA: true, m: sequence, n: headDim, k: sequence, alpha: scale, dS, lda: sequence,
                             qh, ldb: queryStride, beta: 1, dks.pointer + kvOffset, ldc: keyValueStride)
                    }
                }
            }
        }
    }
}
