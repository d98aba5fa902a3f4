import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against a naive Double loop: only summation order differs (~1e-16 per op).
private let naiveTolerance = 1e-12

/// Gradient checks use Tolerance.finiteDifference (1e-6): the norms stay well away from the
/// clamp (step 1e-6 never crosses it), so the loss is smooth and central differences on these
/// O(1) dot-product losses err by ~1e-9
/// (measured: 5e-11 relative).
final class L2NormalizeTests: XCTestCase {
    let rows = 3, dim = 7

    func testForwardGivesUnitRows() {
        var random = TestRandom(seed: 81)
        let x: Buffer<Double> = random.buffer(rows * dim, -2, 2)
        let y = Buffer<Double>(count: rows * dim), norms = Buffer<Double>(count: rows)
        l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim)
        for r in 0..<rows {
            let row = Array(x.array[r * dim..<(r + 1) * dim])
            let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            XCTAssertEqual(norms[r], norm, accuracy: naiveTolerance, "saved norm \(r)")
            var squares = 0.0
            for i in 0..<dim {
                XCTAssertEqual(y[r * dim + i], row[i] / norm, accuracy: naiveTolerance)
                squares += y[r * dim + i] * y[r * dim + i]
            }
            XCTAssertEqual(squares, 1, accuracy: naiveTolerance, "row \(r) has unit norm")
        }
    }

    /// A zero row stays zero (torch: 0 / eps), and a row below eps is divided by eps, not by
    /// its own norm.
    func testTinyRowsAreDividedByEps() {
        let x = Buffer<Double>([0, 0, 0, 3e-13, 4e-13, 0]), y = Buffer<Double>(count: 6), norms = Buffer<Double>(count: 2)
        l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: 2, dim: 3)
        XCTAssertEqual(y.array[0..<3], [0, 0, 0])
        XCTAssertEqual(norms[1], 5e-13, accuracy: 5e-13 * Tolerance.doubleReordering)
        XCTAssertEqual(y[3], 0.3, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(y[4], 0.4, accuracy: Tolerance.doubleReordering)
        let dy = Buffer<Double>([1, 1, 1, 1, 1, 1]), dx = Buffer<Double>(count: 6)
        l2NormalizeBackward(dy: dy.pointer, x: x.pointer, norms: norms.pointer, dx: dx.pointer, rows: 2, dim: 3)
        XCTAssertTrue(dx.array.allSatisfy { $0 == 1 / 1e-12 }, "clamped rows pass dy / eps: \(dx.array)")
    }

    /// Both branches: eps 0.5 puts row 0 (norm ~0.2) in the clamped branch and the others above.
    func testBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 82)
        let x: Buffer<Double> = random.buffer(rows * dim, -2, 2), cotangent: Buffer<Double> = random.buffer(rows * dim)
        for i in 0..<dim { x[i] *= 0.05 }
        let y = Buffer<Double>(count: rows * dim), norms = Buffer<Double>(count: rows)
        for eps in [1e-12, 0.5] {
            l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim, eps: eps)
            XCTAssertLessThan(norms[0], 0.4)
            XCTAssertGreaterThan(norms[1], 0.6)
            XCTAssertGreaterThan(norms[2], 0.6)
            let dx = Buffer<Double>(count: rows * dim)
            l2NormalizeBackward(dy: cotangent.pointer, x: x.pointer, norms: norms.pointer, dx: dx.pointer,
                                rows: rows, dim: dim, eps: eps)
            let numerical = numericalGradient(x) {
                l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim, eps: eps)
                return dot(y.pointer, cotangent.pointer, y.count)
            }
            assertClose(dx.array, numerical, tolerance: Tolerance.finiteDifference, "l2Normalize dx, eps \(eps)")
        }
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 83)
        let x: Buffer<Float> = random.buffer(rows * dim, -2, 2)
        let y = Buffer<Float>(count: rows * dim), norms = Buffer<Float>(count: rows)
        let xDouble = widenedToDouble(x), yDouble = Buffer<Double>(count: rows * dim), normsDouble = Buffer<Double>(count: rows)
        l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim)
        l2NormalizeForward(x: xDouble.pointer, y: yDouble.pointer, norms: normsDouble.pointer, rows: rows, dim: dim)
        assertClose(y.array, yDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "l2Normalize Float vs Double")
        assertClose(norms.array, normsDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "norms Float vs Double")
    }

    func testBackwardAccumulates() {
        var random = TestRandom(seed: 84)
        let x: Buffer<Double> = random.buffer(rows * dim, -2, 2), dy: Buffer<Double> = random.buffer(rows * dim)
        let y = Buffer<Double>(count: rows * dim), norms = Buffer<Double>(count: rows)
        l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim)
        let once = Buffer<Double>(count: rows * dim), start: [Double] = random.uniform(rows * dim)
        let twice = Buffer(start)
        l2NormalizeBackward(dy: dy.pointer, x: x.pointer, norms: norms.pointer, dx: once.pointer, rows: rows, dim: dim)
        for _ in 0..<2 {
            l2NormalizeBackward(dy: dy.pointer, x: x.pointer, norms: norms.pointer, dx: twice.pointer, rows: rows, dim: dim)
        }
        assertClose(twice.array, zip(start, once.array).map { $0 + 2 * $1 }, tolerance: naiveTolerance,
                    "l2Normalize dx accumulates")
    }

    /// Rows split over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let rows = 53, dim = 1001
        var random = TestRandom(seed: 85)
        let x: Buffer<Double> = random.buffer(rows * dim), dy: Buffer<Double> = random.buffer(rows * dim)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let y = Buffer<Double>(count: rows * dim), norms = Buffer<Double>(count: rows), dx = Buffer<Double>(count: rows * dim)
            withKernelThreads(threads) {
                l2NormalizeForward(x: x.pointer, y: y.pointer, norms: norms.pointer, rows: rows, dim: dim)
                l2NormalizeBackward(dy: dy.pointer, x: x.pointer, norms: norms.pointer, dx: dx.pointer, rows: rows, dim: dim)
            }
            return y.array + norms.array + dx.array
        }
        assertBitIdentical(results[1], results[0], "threaded l2Normalize")
    }
}
