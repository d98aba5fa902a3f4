/// Row-wise L2 normalisation with torch.nn.functional.normalize's semantics:
/// y = x / max(||x||, eps), eps 1e-12 by default. The pooled embeddings go through it before
/// the contrastive loss's cosine logits.

/// y = x / max(||x||, eps) per row; norms[r] = ||x[r]|| (not clamped).
@inlinable
public func l2NormalizeForward<T: KernelScalar>(
    x: UnsafePointer<T>,              // x: (rows, dim)
    y: UnsafeMutablePointer<T>,       // y: (rows, dim), overwritten
    norms: UnsafeMutablePointer<T>,   // norms: (rows), saved for the backward
    rows: Int, dim: Int, eps: T = 1e-12
) {
    precondition(rows >= 0 && dim >= 0 && eps > 0, "l2NormalizeForward: bad size or eps")
    parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
        for r in range {
            let xRow = x + r * dim, yRow = y + r * dim
            let norm = dotInDouble(xRow, xRow, count: dim).squareRoot()
            norms[r] = T(norm)
            let inverse = T(1 / max(norm, Double(eps)))
            for i in 0..<dim { yRow[i] = xRow[i] * inverse }
        }
    }
}

/// Differentiates y = x / max(n, eps), n = ||x||:
///   n >= eps: dx += (dy - y * <y, dy>) / n = dy / n - x * <x, dy> / n^3
///   n <  eps: the denominator is the constant eps, so dx += dy / eps.
/// (torch's clamp_min passes the gradient at n == eps, hence >=.)
@inlinable
public func l2NormalizeBackward<T: KernelScalar>(
    dy: UnsafePointer<T>,             // dy: (rows, dim)
    x: UnsafePointer<T>,              // x: (rows, dim), the forward input
    norms: UnsafePointer<T>,          // norms: (rows), from the forward
    dx: UnsafeMutablePointer<T>,      // dx: (rows, dim), +=
    rows: Int, dim: Int, eps: T = 1e-12
) {
    precondition(rows >= 0 && dim >= 0 && eps > 0, "l2NormalizeBackward: bad size or eps")
    parallelFor(rows, grain: parallelRowGrain(rowLength: dim)) { range in
        for r in range {
            let xRow = x + r * dim, dyRow = dy + r * dim, dxRow = dx + r * dim
            let norm = norms[r]
            if norm >= eps {
                let inverse = 1 / norm
                let projection = T(dotInDouble(xRow, dyRow, count: dim)) * inverse * inverse * inverse
                for i in 0..<dim { dxRow[i] += dyRow[i] * inverse - xRow[i] * projection }
            } else {
                let inverse = 1 / eps
                for i in 0..<dim { dxRow[i] += dyRow[i] * inverse }
            }
        }
    }
}
