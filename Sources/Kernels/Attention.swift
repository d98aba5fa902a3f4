import RealModule

/// Scaled dot-product multi-head attention with grouped-query heads, causal, key-padding and
/// block-diagonal (packed segments) masks, forward and backward. Per (block, head), a block
/// being one sequence of the batch or one packed segment, it is three GEMMs and a softmax:
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
/// Masking: a key is hidden from a query when it lies in another block (segments are never
/// scored against each other), in the future (causal, key j > query i) or is padding (keyMask
/// 0); its score becomes -infinity, so its probability is exactly 0.
/// A query row that sees no key at all (a left-pad query under causal + padding) has no
/// softmax; it gets P = 0, output 0 and gradient 0 instead of NaN. HF produces some finite
/// values for such pad rows, but they are never read (pooling and losses skip pad tokens), so
/// only the real rows are compared against it.

/// Sequences of different lengths packed one after another in the rows (the images of one
/// vision batch): attention stays inside each segment, a block-diagonal mask, as transformers'
/// `cu_seqlens`. Built by the caller, which keeps `bounds` alive for the call.
public struct AttentionSegments: @unchecked Sendable, Equatable {
    /// count + 1 row offsets: segment s is rows bounds[s]..<bounds[s + 1], bounds[0] == 0.
    public let bounds: UnsafePointer<Int32>
    public let count: Int
    /// The longest segment, which sizes the per-worker (length, length) scratch.
    public let longest: Int
    /// The sum of the squared lengths: the saved probabilities of one head.
    public let squares: Int

    public init(bounds: UnsafePointer<Int32>, count: Int) {
        precondition(count >= 0 && (count == 0 || bounds[0] == 0), "AttentionSegments: bounds must start at 0")
        var longest = 0, squares = 0
        for s in 0..<count {
            let length = Int(bounds[s + 1]) - Int(bounds[s])
            precondition(length >= 0, "AttentionSegments: segment \(s) has negative length \(length)")
            longest = max(longest, length)
            squares += length * length
        }
        self.bounds = bounds
        self.count = count
        self.longest = longest
        self.squares = squares
    }

    public var rows: Int { count == 0 ? 0 : Int(bounds[count]) }
}

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
    /// Packed segments (batch is 1 and sequence the total rows); nil: `batch` sequences of
    /// `sequence` rows each.
    public let segments: AttentionSegments?

    public init(batch: Int, sequence: Int, queryHeads: Int, keyValueHeads: Int, headDim: Int,
                causal: Bool, scale: Double? = nil, segments: AttentionSegments? = nil) {
        precondition(batch >= 0 && sequence >= 0 && headDim > 0 && queryHeads > 0 && keyValueHeads > 0,
                     "AttentionShape: invalid sizes batch \(batch) sequence \(sequence) heads \(queryHeads)/\(keyValueHeads) headDim \(headDim)")
        precondition(queryHeads % keyValueHeads == 0,
                     "AttentionShape: \(queryHeads) query heads are not a multiple of \(keyValueHeads) key/value heads")
        if let segments {
            precondition(batch == 1 && segments.rows == sequence,
                         "AttentionShape: \(segments.count) segments of \(segments.rows) rows in a batch of \(batch) x \(sequence)")
        }
        self.batch = batch
        self.sequence = sequence
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.causal = causal
        self.scale = scale ?? 1 / Double(headDim).squareRoot()
        self.segments = segments
    }

    /// Query heads sharing one key/value head.
    @inlinable public var groupSize: Int { queryHeads / keyValueHeads }
    /// Independent attention blocks: the sequences, or the segments.
    @inlinable public var blocks: Int { segments?.count ?? batch }
    /// Block b's first row, its length, and the sum of the squared lengths of the blocks before it.
    @inlinable public func block(_ b: Int) -> (start: Int, length: Int, squaresBefore: Int) {
        guard let segments else { return (b * sequence, sequence, b * sequence * sequence) }
        var before = 0
        for s in 0..<b { let n = Int(segments.bounds[s + 1] - segments.bounds[s]); before += n * n }
        let start = Int(segments.bounds[b])
        return (start, Int(segments.bounds[b + 1]) - start, before)
    }
    /// The longest block.
    @inlinable public var longest: Int { segments?.longest ?? sequence }
    /// Elements of the saved probabilities: (queryHeads, length, length) per block.
    @inlinable public var probabilitiesCount: Int { queryHeads * (segments?.squares ?? batch * sequence * sequence) }
    /// Elements of a forward's P when it is not saved: one (longest, longest) matrix per worker.
    @inlinable public func forwardScratchCount(workers: Int = KernelThreads.count) -> Int {
        max(min(workers, blocks * queryHeads), 1) * longest * longest
    }
    /// Elements of the backward's dP scratch: one (longest, longest) matrix per worker thread.
    @inlinable public func backwardScratchCount(workers: Int = KernelThreads.count) -> Int {
        max(workers, 1) * longest * longest
    }
}

/// out = softmax(mask(scale * Q K^T)) V for every (block, query head), in parallel over them.
/// A block is one sequence of the batch, or one segment when `shape.segments` packs them.
///   q:   (rows, queryHeads, headDim), rows = batch * sequence
///   k:   (rows, keyValueHeads, headDim)
///   v:   (rows, keyValueHeads, headDim)
///   keyMask: (rows), 1 = real token, 0 = padding; nil = every key is real
///   out: (rows, queryHeads, headDim), overwritten
///   probabilities: `shape.probabilitiesCount` elements, (queryHeads, length, length) per block,
///     overwritten with P: the saved state `attentionBackward` needs (exactly 0 at masked keys
///     and on rows with no key). With `savesProbabilities` false (a forward that will not be
///     differentiated: a frozen tower, inference) it is only scratch of
///     `shape.forwardScratchCount()` elements, one (longest, longest) slice per worker, and
///     nothing of size blocks x heads x length^2 exists.
@inlinable
public func attentionForward<T: KernelScalar>(
    q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, keyMask: UnsafePointer<UInt8>?,
    shape: AttentionShape, out: UnsafeMutablePointer<T>, probabilities: UnsafeMutablePointer<T>,
    savesProbabilities: Bool = true
) {
    let headDim = shape.headDim, queryHeads = shape.queryHeads
    let queryStride = queryHeads * headDim, keyValueStride = shape.keyValueHeads * headDim
    let groupSize = shape.groupSize, causal = shape.causal, scale = T(shape.scale), longest = shape.longest
    let qs = SharedPointer(q), ks = SharedPointer(k), vs = SharedPointer(v), outs = SharedPointer(out)
    let ps = SharedPointer(probabilities), masks = keyMask.map { SharedPointer($0) }
    let tasks = shape.blocks * queryHeads
    // Saved: task (b, h) writes its own slice of P. Scratch: worker w reuses slice w for its
    // tasks w, w + workers, ...
    let workers = savesProbabilities ? tasks : min(KernelThreads.count, tasks)
    parallelFor(workers) { range in
        for w in range {
          for task in stride(from: w, to: tasks, by: workers) {
            let b = task / queryHeads, h = task % queryHeads, g = h / groupSize
            let (start, n, squaresBefore) = shape.block(b)
            if n == 0 { continue }
            let qh = qs.pointer + start * queryStride + h * headDim
            let kg = ks.pointer + start * keyValueStride + g * headDim
            let vg = vs.pointer + start * keyValueStride + g * headDim
            let oh = outs.pointer + start * queryStride + h * headDim
            let p = ps.pointer + (savesProbabilities ? queryHeads * squaresBefore + h * n * n : w * longest * longest)
            // S = scale * Q K^T, written straight into P's storage.
            gemm(transB: true, m: n, n: n, k: headDim, alpha: scale,
                 qh, lda: queryStride, kg, ldb: keyValueStride, beta: 0, p, ldc: n)
            // P = softmax(mask(S)). Causal rows only normalise their first i + 1 entries;
            // the future part is set to exactly 0 rather than exponentiated.
            for i in 0..<n {
                let row = p + i * n
                let visible = causal ? i + 1 : n
                if let masks {
                    let mask = masks.pointer + start
                    for j in 0..<visible where mask[j] == 0 { row[j] = -T.infinity }
                }
                softmaxRow(row, row, count: visible)
                if visible < n { (row + visible).update(repeating: 0, count: n - visible) }
            }
            // O = P V
            gemm(m: n, n: headDim, k: n, p, lda: n, vg, ldb: keyValueStride,
                 beta: 0, oh, ldc: queryStride)
          }
        }
    }
}

/// Gradients of `attentionForward`, ADDED into dq, dk and dv; a nil gradient is not computed
/// (dv alone skips the dP GEMM and the softmax backward). Work is split by (block, key/value
/// head): the query heads of one group all write the same dk/dv slice, so one worker owns the
/// whole group and writes never collide.
///   dout: (rows, queryHeads, headDim) gradient with respect to out
///   q, k, v: the forward's inputs, shapes as there
///   probabilities: P saved by the forward
///   dq: (rows, queryHeads, headDim), += ; nil = not needed
///   dk, dv: (rows, keyValueHeads, headDim), += ; nil = not needed
///   scratch: at least shape.backwardScratchCount(workers: 1) elements, one (longest,
///     longest) dP per worker; with fewer than KernelThreads.count of them, fewer workers run.
///     Contents on entry do not matter; they are garbage on exit.
/// The keyMask is not needed: P is exactly 0 where the forward masked, which zeroes dS there.
@inlinable
public func attentionBackward<T: KernelScalar>(
    dout: UnsafePointer<T>, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>,
    probabilities: UnsafePointer<T>, shape: AttentionShape,
    dq: UnsafeMutablePointer<T>?, dk: UnsafeMutablePointer<T>?, dv: UnsafeMutablePointer<T>?,
    scratch: UnsafeMutableBufferPointer<T>
) {
    let headDim = shape.headDim, queryHeads = shape.queryHeads
    let queryStride = queryHeads * headDim, keyValueStride = shape.keyValueHeads * headDim
    let groupSize = shape.groupSize, scale = T(shape.scale), square = shape.longest * shape.longest
    let tasks = shape.blocks * shape.keyValueHeads
    if tasks == 0 || square == 0 || (dq == nil && dk == nil && dv == nil) { return }
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
                let (start, n, squaresBefore) = shape.block(b)
                if n == 0 { continue }
                let kvOffset = start * keyValueStride + g * headDim
                let kg = ks.pointer + kvOffset, vg = vs.pointer + kvOffset
                for h in g * groupSize..<(g + 1) * groupSize {
                    let qOffset = start * queryStride + h * headDim
                    let qh = qs.pointer + qOffset, doh = douts.pointer + qOffset
                    let p = ps.pointer + queryHeads * squaresBefore + h * n * n
                    // O = P V  ->  dV += P^T dO (summed over the group's query heads)
                    if let dvs {
                        gemm(transA: true, m: n, n: headDim, k: n, p, lda: n,
                             doh, ldb: queryStride, beta: 1, dvs.pointer + kvOffset, ldc: keyValueStride)
                    }
                    if dqs == nil && dks == nil { continue }
                    // O = P V  ->  dP = dO V^T
                    gemm(transB: true, m: n, n: n, k: headDim, doh, lda: queryStride,
                         vg, ldb: keyValueStride, beta: 0, dS, ldc: n)
                    // P = softmax(mask(S))  ->  dS = P * (dP - rowsum(dP * P)); masked entries
                    // and key-less rows have P = 0, so their dS is 0.
                    for i in 0..<n {
                        softmaxRowBackwardInPlace(y: p + i * n, gradient: dS + i * n, count: n)
                    }
                    // S = scale * Q K^T  ->  dQ += scale * dS K
                    if let dqs {
                        gemm(m: n, n: headDim, k: n, alpha: scale, dS, lda: n,
                             kg, ldb: keyValueStride, beta: 1, dqs.pointer + qOffset, ldc: queryStride)
                    }
                    // S = scale * Q K^T  ->  dK += scale * dS^T Q (summed over the group)
                    if let dks {
                        gemm(transA: true, m: n, n: headDim, k: n, alpha: scale, dS, lda: n,
                             qh, ldb: queryStride, beta: 1, dks.pointer + kvOffset, ldc: keyValueStride)
                    }
                }
            }
        }
    }
}
