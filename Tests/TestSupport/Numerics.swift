import Kernels
import XCTest

/// Tolerances, named for why they have the size they have.
package enum Tolerance {
    /// Central differences in Float64 with step 1e-6 leave about 1e-9 truncation and rounding
    /// error on O(1) values; 1e-6 relative leaves room for ill-conditioned elements.
    package static let finiteDifference: Double = 1e-6
    /// Float32 results against a Float64 or naive reference of the same sum: a few ulps times
    /// the reduction length stays below this for the sizes the tests use.
    package static let float32: Double = 1e-5
    /// Float32 results against their exact value after a few operations on O(1) values:
    /// float32's unit roundoff is 6e-8, and 1e-6 allows about ten roundings.
    package static let float32Operations: Double = 1e-6
    /// Double arithmetic that only reorders sums or rounds exact fractions: a few ulps (2.2e-16)
    /// of O(1) values, with room for a few hundred operations.
    package static let doubleReordering: Double = 1e-12
    /// One scalar derivative against a Float64 central difference, absolute: the difference's
    /// truncation and rounding error is ~1e-10 here, and a wrong term is off by far more than 1e-7.
    package static let scalarFiniteDifference: Double = 1e-7
}

/// Deterministic random values for tests.
package struct TestRandom {
    package var generator: Xoshiro256
    package init(seed: UInt64) { generator = Xoshiro256(seed: seed) }

    package mutating func uniform<T: KernelScalar>(_ count: Int, _ low: T = -1, _ high: T = 1) -> [T] {
        (0..<count).map { _ in generator.uniform(low, high) }
    }

    package mutating func buffer<T: KernelScalar>(_ count: Int, _ low: T = -1, _ high: T = 1) -> Buffer<T> {
        Buffer(uniform(count, low, high))
    }
}

/// Largest |a - b| divided by the largest |b| (the reference), so one number judges a whole
/// tensor and a tiny element's relative error cannot dominate.
package func maxRelativeError<T: KernelScalar>(_ a: [T], _ b: [T]) -> Double {
    precondition(a.count == b.count, "maxRelativeError: \(a.count) vs \(b.count) elements")
    var worst = 0.0, scale = 0.0
    for i in 0..<a.count {
        worst = max(worst, abs(Double(a[i]) - Double(b[i])))
        scale = max(scale, abs(Double(b[i])))
    }
    return scale == 0 ? worst : worst / scale
}

/// Fails with the worst element's index and values when `actual` and `expected` differ by
/// more than `tolerance` relative to the largest expected magnitude.
package func assertClose<T: KernelScalar>(
    _ actual: [T], _ expected: [T], tolerance: Double, _ what: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(what): \(actual.count) elements, expected \(expected.count)", file: file, line: line)
        return
    }
    let error = maxRelativeError(actual, expected)
    if !(error <= tolerance) {
        var worstIndex = 0, worst = -1.0
        for i in 0..<actual.count where abs(Double(actual[i]) - Double(expected[i])) > worst {
            worst = abs(Double(actual[i]) - Double(expected[i])); worstIndex = i
        }
        XCTFail("\(what): relative error \(error) > \(tolerance); worst at [\(worstIndex)]: "
                + "\(actual[worstIndex]) vs expected \(expected[worstIndex])", file: file, line: line)
    }
}

/// Central finite differences of `loss` with respect to every element of `x`, perturbing `x`
/// in place and restoring it. `loss` must read `x` afresh on every call.
package func numericalGradient(_ x: Buffer<Double>, step: Double = 1e-6, _ loss: () -> Double) -> [Double] {
    var gradient = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let saved = x[i]
        x[i] = saved + step
        let plus = loss()
        x[i] = saved - step
        let minus = loss()
        x[i] = saved
        gradient[i] = (plus - minus) / (2 * step)
    }
    return gradient
}

/// sum(a * b): turns a kernel's output into a scalar loss with a random cotangent `b`, so
/// that d(loss)/d(output) = b is what the backward receives.
package func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += a[i] * b[i] }
    return s
}
