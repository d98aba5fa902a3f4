/// LayerNorm over the last dimension, as torch.nn.LayerNorm: biased variance (divide by dim),
/// eps inside the square root, elementwise affine weight and bias.

/// y = (x - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), per row.
@inlinable
public func layerNormForward<T: KernelScalar>(
    x: UnsafePointer<T>,              // x: (rows, dim)
    weight: UnsafePointer<T>,         // weight: (dim)
    bias: UnsafePointer<T>,           // bias: (dim)
    eps: T,
    y: UnsafeMutablePointer<T>,       // y: (rows, dim), overwritten
    mean: UnsafeMutablePointer<T>,    // mean: (rows), saved for the backward
    rstd: UnsafeMutablePointer<T>,    // rstd: (rows), saved for the backward
    rows: Int, dim: Int
) {
    precondition(rows >= 0 && dim > 0, "layerNormForward: bad size (\(rows), \(dim))")
    parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
        for r in range {
            let xRow = x + r * dim, yRow = y + r * dim
            // Statistics in Double, two passes (DoubleAccumulation.swift says why).
            let m = sumInDouble(xRow, count: dim) / Double(dim)
            let variance = squaredDeviationsInDouble(xRow, mean: m, count: dim) / Double(dim)
            let s = 1 / (variance + Double(eps)).squareRoot()
            mean[r] = T(m)
            rstd[r] = T(s)
            let mT = T(m), sT = T(s)
            for i in 0..<dim { yRow[i] = (xRow[i] - mT) * sT * weight[i] + bias[i] }
        }
    }
}

/// Adds the gradients of `layerNormForward` into every non-nil gradient buffer.
@inlinable
public func layerNormBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (rows, dim)
    x: UnsafePointer<T>,              // x: (rows, dim), the forward input
    weight: UnsafePointer<T>,         // weight: (dim)
    mean: UnsafePointer<T>,           // mean: (rows), from the forward
    rstd: UnsafePointer<T>,           // rstd: (rows), from the forward
    dx: UnsafeMutablePointer<T>?,     // dx: (rows, dim), +=
    dWeight: UnsafeMutablePointer<T>?,  // dWeight: (dim), +=
    dBias: UnsafeMutablePointer<T>?,  // dBias: (dim), +=
    rows: Int, dim: Int
) {
    precondition(rows >= 0 && dim > 0, "layerNormBackward: bad size (\(rows), \(dim))")
    if let dx {
        parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
            for r in range {
                let xRow = x + r * dim, dyRow = dy + r * dim, dxRow = dx + r * dim
                let m = mean[r], s = rstd[r]
                // With xhat = (x - mean) * rstd and g = dy * weight (the gradient w.r.t. xhat):
                // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)); the two means come from
                // differentiating the row's mean and variance, which every element feeds.
                var gSum = 0.0, gxSum = 0.0
                for i in 0..<dim {
                    let xhat = Double((xRow[i] - m) * s)
                    let g = Double(dyRow[i] * weight[i])
                    gSum += g
                    gxSum += g * xhat
                }
                let gMean = T(gSum / Double(dim)), gxMean = T(gxSum / Double(dim))
                for i in 0..<dim {
                    let xhat = (xRow[i] - m) * s
                    dxRow[i] += s * (dyRow[i] * weight[i] - gMean - xhat * gxMean)
                }
            }
        }
    }
    if dWeight == nil && dBias == nil { return }
    // y = xhat * weight + bias  =>  dWeight = sum over rows of dy * xhat, dBias = sum of dy.
    // Workers own column slices so the sums over rows never race.
    parallelFor(dim, grain: parallelRowGrain(rowLength: rows)) { columns in
        for r in 0..<rows {
            let xRow = x + r * dim, dyRow = dy + r * dim
            let m = mean[r], s = rstd[r]
            if let dWeight { for i in columns { dWeight[i] += dyRow[i] * ((xRow[i] - m) * s) } }
            if let dBias { for i in columns { dBias[i] += dyRow[i] } }
        }
    }
}
