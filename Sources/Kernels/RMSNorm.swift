/// Llama's RMSNorm (LlamaRMSNorm): y = x * rsqrt(mean(x^2) + eps) * weight, no mean
/// subtraction and no bias.

/// y = x * rstd * weight, rstd = 1 / sqrt(mean(x^2) + eps), per row.
@inlinable
public func rmsNormForward<T: KernelScalar>(
    x: UnsafePointer<T>,              // x: (rows, dim)
    weight: UnsafePointer<T>,         // weight: (dim)
    eps: T,
    y: UnsafeMutablePointer<T>,       // y: (rows, dim), overwritten
    rstd: UnsafeMutablePointer<T>,    // rstd: (rows), saved for the backward
    rows: Int, dim: Int
) {
    precondition(rows >= 0 && dim > 0, "rmsNormForward: bad size (\(rows), \(dim))")
    parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
        for r in range {
            let xRow = x + r * dim, yRow = y + r * dim
            let meanSquare = dotInDouble(xRow, xRow, count: dim) / Double(dim)
            let s = T(1 / (meanSquare + Double(eps)).squareRoot())
            rstd[r] = s
            for i in 0..<dim { yRow[i] = xRow[i] * s * weight[i] }
        }
    }
}

/// Adds the gradients of `rmsNormForward` into every non-nil gradient buffer.
@inlinable
public func rmsNormBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (rows, dim)
    x: UnsafePointer<T>,              // x: (rows, dim), the forward input
    weight: UnsafePointer<T>,         // weight: (dim)
    rstd: UnsafePointer<T>,           // rstd: (rows), from the forward
    dx: UnsafeMutablePointer<T>?,     // dx: (rows, dim), +=
    dWeight: UnsafeMutablePointer<T>?,  // dWeight: (dim), +=
    rows: Int, dim: Int
) {
    precondition(rows >= 0 && dim > 0, "rmsNormBackward: bad size (\(rows), \(dim))")
    if let dx {
        parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
            for r in range {
                let xRow = x + r * dim, dyRow = dy + r * dim, dxRow = dx + r * dim
                let s = rstd[r]
                // With xhat = x * rstd and g = dy * weight: dx = rstd * (g - xhat * mean(g * xhat));
                // the mean term differentiates rstd, which every element of the row feeds.
                var gxSum = 0.0
                for i in 0..<dim { gxSum += Double(dyRow[i] * weight[i]) * Double(xRow[i] * s) }
                let gxMean = T(gxSum / Double(dim))
                for i in 0..<dim {
                    dxRow[i] += s * (dyRow[i] * weight[i] - xRow[i] * s * gxMean)
                }
            }
        }
    }
    // y = xhat * weight  =>  dWeight = sum over rows of dy * xhat (workers own column slices).
    if let dWeight {
        parallelFor(dim, grain: parallelRowGrain(rowLength: rows)) { columns in
            for r in 0..<rows {
                let xRow = x + r * dim, dyRow = dy + r * dim
                let s = rstd[r]
                for i in columns { dWeight[i] += dyRow[i] * (xRow[i] * s) }
            }
        }
    }
}
