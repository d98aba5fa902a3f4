/// Fully connected layer in Hugging Face's layout: `weight` is (outFeatures, inFeatures), as
/// nn.Linear stores it, so loaded tensors are used as they are and the GEMM transposes.

/// y = x W^T + b
@inlinable
public func linearForward<T: KernelScalar>(
    x: UnsafePointer<T>,              // x: (rows, inFeatures)
    weight: UnsafePointer<T>,         // weight: (outFeatures, inFeatures)
    bias: UnsafePointer<T>?,          // bias: (outFeatures), nil for a layer without bias
    y: UnsafeMutablePointer<T>,       // y: (rows, outFeatures), overwritten
    rows: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0,
                 "linearForward: negative size (\(rows), \(inFeatures), \(outFeatures))")
    if let bias {
        // Broadcast the bias first, then let the GEMM add x W^T onto it (beta 1): no second pass.
        for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
    }
    gemm(transB: true, m: rows, n: outFeatures, k: inFeatures,
         x, weight, beta: bias == nil ? 0 : 1, y)
}

/// Adds the gradients of `linearForward` into every non-nil gradient buffer. A nil gradient is
/// not computed at all: a frozen weight (dWeight nil) costs no weight-gradient GEMM, which is
/// half the backward of a LoRA-trained layer.
@inlinable
public func linearBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (rows, outFeatures), gradient of the loss w.r.t. y
    x: UnsafePointer<T>,              // x: (rows, inFeatures), the forward input (read for dWeight only)
    weight: UnsafePointer<T>?,        // weight: (outFeatures, inFeatures), read for dx only (nil allowed without dx)
    dx: UnsafeMutablePointer<T>?,     // dx: (rows, inFeatures), +=
    dWeight: UnsafeMutablePointer<T>?,  // dWeight: (outFeatures, inFeatures), +=
    dBias: UnsafeMutablePointer<T>?,  // dBias: (outFeatures), +=
    rows: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0,
                 "linearBackward: negative size (\(rows), \(inFeatures), \(outFeatures))")
    // y = x W^T  =>  dx = dy W: (rows, out) x (out, in)
    if let dx {
        guard let weight else { preconditionFailure("linearBackward: dx asked for without the weight") }
        gemm(m: rows, n: inFeatures, k: outFeatures, dy, weight, beta: 1, dx)
    }
    // y = x W^T  =>  dW = dy^T x: (out, rows) x (rows, in)
    if let dWeight {
        gemm(transA: true, m: outFeatures, n: inFeatures, k: rows, dy, x, beta: 1, dWeight)
    }
    // y = ... + b (broadcast over rows)  =>  db = column sums of dy. Each worker owns a slice
    // of columns and walks every row, so the rows stream contiguously and nothing races.
    if let dBias {
        parallelFor(outFeatures, grain: parallelRowGrain(rowLength: rows)) { columns in
            for r in 0..<rows {
                let dyRow = dy + r * outFeatures
                for o in columns { dBias[o] += dyRow[o] }
            }
        }
    }
}

/// `linearForward` with a bf16 weight: x is narrowed to bf16 (round to nearest even) and
/// multiplied by W^T in a bf16 GEMM with fp32 accumulation, then the fp32 bias is added.
/// Against fp32 this rounds each x and W element once (2^-9 relative), so y carries about
/// 2^-8 relative error per term, averaged down over inFeatures terms (docs/performance.md).
@inlinable
public func linearForwardBFloat16(
    x: UnsafePointer<UInt16>,         // x: (rows, inFeatures), bf16
    weight: UnsafePointer<UInt16>,    // weight: (outFeatures, inFeatures), bf16
    bias: UnsafePointer<Float>?,      // bias: (outFeatures), fp32, nil for a layer without bias
    y: UnsafeMutablePointer<Float>,   // y: (rows, outFeatures), fp32, overwritten
    rows: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0,
                 "linearForwardBFloat16: negative size (\(rows), \(inFeatures), \(outFeatures))")
    if let bias {
        for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
    }
    bf16Gemm(transB: true, m: rows, n: outFeatures, k: inFeatures, x, weight, beta: bias == nil ? 0 : 1, y)
}

/// The input gradient of `linearForwardBFloat16`: dx += dy W, dy narrowed to bf16. The frozen
/// weight has no gradient; bias and LoRA gradients stay with the fp32 `linearBackward`.
@inlinable
public func linearInputGradientBFloat16(
    dy: UnsafePointer<UInt16>,        // dy: (rows, outFeatures), bf16
    weight: UnsafePointer<UInt16>,    // weight: (outFeatures, inFeatures), bf16
    dx: UnsafeMutablePointer<Float>,  // dx: (rows, inFeatures), fp32, +=
    rows: Int, inFeatures: Int, outFeatures: Int
) {
    precondition(rows >= 0 && inFeatures >= 0 && outFeatures >= 0,
                 "linearInputGradientBFloat16: negative size (\(rows), \(inFeatures), \(outFeatures))")
    bf16Gemm(m: rows, n: inFeatures, k: outFeatures, dy, weight, beta: 1, dx)
}
