/// Row reductions shared by the norm and loss kernels.
///
/// They accumulate in Double whatever the element type: a Float row of a few thousand
/// elements then sums to ~1e-16 relative instead of ~1e-5, so Float and Double runs of a
/// kernel agree closely. Four independent accumulators break the add-latency chain; a scalar
/// loop of one accumulator is latency-bound whether it adds Floats or Doubles, so the widening
/// costs nothing.

/// sum(x[0..<count]) in Double.
@inlinable
func sumInDouble<T: KernelScalar>(_ x: UnsafePointer<T>, count: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= count {
        s0 += Double(x[i]); s1 += Double(x[i + 1]); s2 += Double(x[i + 2]); s3 += Double(x[i + 3])
        i += 4
    }
    while i < count { s0 += Double(x[i]); i += 1 }
    return (s0 + s1) + (s2 + s3)
}

/// sum(a[i] * b[i]) in Double.
@inlinable
func dotInDouble<T: KernelScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, count: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= count {
        s0 += Double(a[i]) * Double(b[i]); s1 += Double(a[i + 1]) * Double(b[i + 1])
        s2 += Double(a[i + 2]) * Double(b[i + 2]); s3 += Double(a[i + 3]) * Double(b[i + 3])
        i += 4
    }
    while i < count { s0 += Double(a[i]) * Double(b[i]); i += 1 }
    return (s0 + s1) + (s2 + s3)
}

/// sum((x[i] - mean)^2) in Double: the second pass of a two-pass variance, which unlike
/// E[x^2] - E[x]^2 cannot cancel catastrophically when |mean| >> std.
@inlinable
func squaredDeviationsInDouble<T: KernelScalar>(_ x: UnsafePointer<T>, mean: Double, count: Int) -> Double {
    var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    var i = 0
    while i + 4 <= count {
        let d0 = Double(x[i]) - mean, d1 = Double(x[i + 1]) - mean
        let d2 = Double(x[i + 2]) - mean, d3 = Double(x[i + 3]) - mean
        s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3
        i += 4
    }
    while i < count { let d = Double(x[i]) - mean; s0 += d * d; i += 1 }
    return (s0 + s1) + (s2 + s3)
}

/// Least number of elements worth handing to another thread in `parallelFor`: below this
/// the thread hop costs more than the work.
@usableFromInline let elementwiseParallelGrain = 1 << 14

/// Rows per `parallelFor` grain for a row-wise kernel over rows of `rowLength` elements.
@inlinable
func parallelRowGrain(rowLength: Int) -> Int { max(1, elementwiseParallelGrain / max(rowLength, 1)) }
