import RealModule

/// Row-wise softmax over the last dimension, forward and backward.
///
/// A row whose entries are all -infinity (every key masked in attention) has no distribution;
/// it becomes all zeros instead of NaN, and its gradient is zero too (y = 0 makes the backward
/// vanish on its own).

/// y = softmax(x) row by row.
///   x: (rows, columns)
///   y: (rows, columns), may be the same memory as x (in-place softmax).
@inlinable
public func softmaxForward<T: KernelScalar>(
    x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, rows: Int, columns: Int
) {
    precondition(rows >= 0 && columns >= 0, "softmaxForward: negative shape (\(rows), \(columns))")
    if columns == 0 { return }
    let xs = SharedPointer(x), ys = SharedPointer(y)
    parallelFor(rows, grain: max(1, 16_384 / columns)) { range in
        for r in range {
            softmaxRow(xs.pointer + r * columns, ys.pointer + r * columns, count: columns)
        }
    }
}

/// dx += y * (dy - sum(dy * y)), row by row: the Jacobian of `y = softmax(x)` applied to dy,
/// written with the saved output y so the forward input need not be kept.
///   y:  (rows, columns) saved forward output
///   dy: (rows, columns) gradient with respect to y
///   dx: (rows, columns) gradient with respect to x, accumulated (+=)
@inlinable
public func softmaxBackward<T: KernelScalar>(
    y: UnsafePointer<T>, dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, rows: Int, columns: Int
) {
    precondition(rows >= 0 && columns >= 0, "softmaxBackward: negative shape (\(rows), \(columns))")
    if columns == 0 { return }
    let ys = SharedPointer(y), dys = SharedPointer(dy), dxs = SharedPointer(dx)
    parallelFor(rows, grain: max(1, 16_384 / columns)) { range in
        for r in range {
            let yr = ys.pointer + r * columns, dyr = dys.pointer + r * columns, dxr = dxs.pointer + r * columns
            let inner = softmaxRowDot(yr, dyr, count: columns)
            for j in 0..<columns { dxr[j] += yr[j] * (dyr[j] - inner) }
        }
    }
}

/// One row of the forward: subtracts the row maximum before exponentiating so no entry can
/// overflow (the largest exponent is exp(0) = 1). `output` may alias `input`.
///   input, output: (count)
@inlinable
public func softmaxRow<T: KernelScalar>(_ input: UnsafePointer<T>, _ output: UnsafeMutablePointer<T>, count: Int) {
    var maximum = -T.infinity
    for j in 0..<count { maximum = max(maximum, input[j]) }
    if maximum == -T.infinity {
        // Nothing visible: zeros, not exp(-inf - -inf) = NaN.
        output.update(repeating: 0, count: count)
        return
    }
    var sum: T = 0
    for j in 0..<count {
        let e = T.exp(input[j] - maximum)
        output[j] = e
        sum += e
    }
    let inverse = 1 / sum
    for j in 0..<count { output[j] *= inverse }
}

/// One row of the backward, overwriting the upstream gradient with the input gradient:
/// g = y * (g - sum(g * y)). Attention uses it on its dP scratch, which it then consumes.
///   y: (count) saved softmax output
///   gradient: (count) in: gradient w.r.t. y; out: gradient w.r.t. the softmax input
@inlinable
public func softmaxRowBackwardInPlace<T: KernelScalar>(
    y: UnsafePointer<T>, gradient: UnsafeMutablePointer<T>, count: Int
) {
    let inner = softmaxRowDot(y, UnsafePointer(gradient), count: count)
    for j in 0..<count { gradient[j] = y[j] * (gradient[j] - inner) }
}

@inlinable
func softmaxRowDot<T: KernelScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, count: Int) -> T {
    var s: T = 0
    for j in 0..<count { s += a[j] * b[j] }
    return s
}
