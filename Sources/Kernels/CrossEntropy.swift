import RealModule

/// Softmax cross-entropy over a vocabulary with torch's defaults: reduction 'mean' over the
/// rows whose target is not `ignoreIndex` (-100, what Hugging Face labels use for prompt and
/// padding positions).
///
/// When every row is ignored torch's 'mean' divides 0 by 0 and returns NaN; here the loss is
/// 0, `count` is 0 and the backward adds nothing, so a micro-batch without any target cannot
/// poison a run with NaN.

/// The loss and the number of rows it averages over.
public struct CrossEntropyResult: Sendable, Equatable {
    /// Mean over counted rows of -log softmax(logits)[target]; 0 when `count` is 0.
    public var loss: Double
    /// Rows whose target is not the ignore index: the backward's divisor.
    public var count: Int

    public init(loss: Double, count: Int) {
        self.loss = loss
        self.count = count
    }
}

/// log(sum(exp(row))) with the row maximum subtracted first, so no exp overflows; the sum is
/// taken in Double (DoubleAccumulation.swift says why).
@inlinable
func crossEntropyRowLogSumExp<T: KernelScalar>(_ row: UnsafePointer<T>, count: Int) -> T {
    var maximum = -T.infinity
    for j in 0..<count where row[j] > maximum { maximum = row[j] }
    var sum = 0.0
    for j in 0..<count { sum += Double(T.exp(row[j] - maximum)) }
    return T(Double(maximum) + Double.log(sum))
}

@inlinable
func checkCrossEntropyTarget(_ target: Int32, row: Int, vocab: Int, ignoreIndex: Int32) {
    precondition(target == ignoreIndex || (target >= 0 && Int(target) < vocab),
                 "crossEntropy: target \(target) at row \(row) is outside 0..<\(vocab) and not the ignore index")
}

/// loss = mean over counted rows r of (logSumExp(logits[r]) - logits[r, targets[r]])
@inlinable
public func crossEntropyForward<T: KernelScalar>(
    logits: UnsafePointer<T>,         // logits: (rows, vocab)
    targets: UnsafePointer<Int32>,    // targets: (rows), a class id or ignoreIndex
    logSumExp: UnsafeMutablePointer<T>?,  // logSumExp: (rows), saved for the backward when not
                                      //   nil; 0 on ignored rows (they are never computed)
    rows: Int, vocab: Int, ignoreIndex: Int32 = -100
) -> CrossEntropyResult {
    precondition(rows >= 0 && vocab > 0, "crossEntropyForward: bad size (\(rows), \(vocab))")
    for r in 0..<rows { checkCrossEntropyTarget(targets[r], row: r, vocab: vocab, ignoreIndex: ignoreIndex) }
    if let logSumExp {
        // The exps are the work: spread the rows over workers, then sum the saved values.
        parallelFor(rows, grain: parallelRowGrain(rowLength: vocab)) { range in
            for r in range {
                logSumExp[r] = targets[r] == ignoreIndex ? 0 : crossEntropyRowLogSumExp(logits + r * vocab, count: vocab)
            }
        }
    }
    var total = 0.0, count = 0
    for r in 0..<rows where targets[r] != ignoreIndex {
        let row = logits + r * vocab
        let lse = logSumExp?[r] ?? crossEntropyRowLogSumExp(row, count: vocab)
        total += Double(lse) - Double(row[Int(targets[r])])
        count += 1
    }
    return CrossEntropyResult(loss: count == 0 ? 0 : total / Double(count), count: count)
}

/// Differentiates loss = mean_r (logSumExp(logits[r]) - logits[r, t_r]) for an upstream
/// gradient `scale` (d total loss / d loss): dLogits[r] += scale * (softmax(logits[r]) -
/// onehot(t_r)) / count on counted rows; ignored rows get nothing.
@inlinable
public func crossEntropyBackward<T: KernelScalar>(
    logits: UnsafePointer<T>,         // logits: (rows, vocab)
    targets: UnsafePointer<Int32>,    // targets: (rows)
    logSumExp: UnsafePointer<T>?,     // logSumExp: (rows) from the forward; nil recomputes it
    scale: T,
    count: Int,                       // the forward's `count` (the divisor of the mean)
    dLogits: UnsafeMutablePointer<T>, // dLogits: (rows, vocab), +=
    rows: Int, vocab: Int, ignoreIndex: Int32 = -100
) {
    precondition(rows >= 0 && vocab > 0 && count >= 0, "crossEntropyBackward: bad size")
    if count == 0 { return }  // every row ignored: the loss is the constant 0
    let factor = scale / T(count)
    parallelFor(rows, grain: parallelRowGrain(rowLength: vocab)) { range in
        for r in range where targets[r] != ignoreIndex {
            checkCrossEntropyTarget(targets[r], row: r, vocab: vocab, ignoreIndex: ignoreIndex)
            let row = logits + r * vocab, dRow = dLogits + r * vocab
            let lse = logSumExp?[r] ?? crossEntropyRowLogSumExp(row, count: vocab)
            for j in 0..<vocab { dRow[j] += factor * T.exp(row[j] - lse) }
            dRow[Int(targets[r])] -= factor
        }
    }
}
