import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against naive Double formulas: only rounding order differs (~1e-16 per op).
private let naiveTolerance = 1e-12

/// Gradient checks use Tolerance.finiteDifference (1e-6): dot-product losses of O(1) values over
/// < 40 elements, rows with mean square far above eps, so central differences err by ~1e-9 (measured: 5e-10).
final class RMSNormTests: XCTestCase {
    let rows = 3, dim = 7
    let eps = 1e-6  // Llama's rms_norm_eps

    struct Case {
        let x, weight, cotangent, y, rstd: Buffer<Double>
    }

    func makeCase(seed: UInt64) -> Case {
        var random = TestRandom(seed: seed)
        return Case(x: random.buffer(rows * dim, -2, 2), weight: random.buffer(dim, 0.5, 1.5),
                    cotangent: random.buffer(rows * dim), y: Buffer(count: rows * dim), rstd: Buffer(count: rows))
    }

    func forward(_ c: Case) {
        rmsNormForward(x: c.x.pointer, weight: c.weight.pointer, eps: eps, y: c.y.pointer, rstd: c.rstd.pointer,
                       rows: rows, dim: dim)
    }

    func backward(_ c: Case, dx: Buffer<Double>?, dWeight: Buffer<Double>?) {
        rmsNormBackward(dy: c.cotangent.pointer, x: c.x.pointer, weight: c.weight.pointer, rstd: c.rstd.pointer,
                        dx: dx?.pointer, dWeight: dWeight?.pointer, rows: rows, dim: dim)
    }

    /// y = x / sqrt(mean(x^2) + eps) * weight, written out per element; with weight 1 the rows
    /// come out with mean square ms / (ms + eps).
    func testForwardMatchesFormula() {
        let c = makeCase(seed: 31)
        forward(c)
        for r in 0..<rows {
            let row = Array(c.x.array[r * dim..<(r + 1) * dim])
            let meanSquare = row.map { $0 * $0 }.reduce(0, +) / Double(dim)
            let rstd = 1 / (meanSquare + eps).squareRoot()
            XCTAssertEqual(c.rstd[r], rstd, accuracy: naiveTolerance, "saved rstd \(r)")
            var outSquare = 0.0
            for i in 0..<dim {
                XCTAssertEqual(c.y[r * dim + i], row[i] * rstd * c.weight[i], accuracy: naiveTolerance, "[\(r), \(i)]")
                outSquare += (row[i] * rstd) * (row[i] * rstd)
            }
            XCTAssertEqual(outSquare / Double(dim), meanSquare / (meanSquare + eps), accuracy: naiveTolerance)
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        let c = makeCase(seed: 32)
        forward(c)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: dim)
        backward(c, dx: dx, dWeight: dWeight)
        func loss() -> Double {
            forward(c)
            return dot(c.y.pointer, c.cotangent.pointer, c.y.count)
        }
        assertClose(dx.array, numericalGradient(c.x, loss), tolerance: Tolerance.finiteDifference, "rmsNorm dx")
        assertClose(dWeight.array, numericalGradient(c.weight, loss), tolerance: Tolerance.finiteDifference,
                    "rmsNorm dWeight")
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 33)
        let x: Buffer<Float> = random.buffer(rows * dim, -2, 2), weight: Buffer<Float> = random.buffer(dim)
        let y = Buffer<Float>(count: rows * dim), rstd = Buffer<Float>(count: rows)
        rmsNormForward(x: x.pointer, weight: weight.pointer, eps: Float(eps), y: y.pointer, rstd: rstd.pointer,
                       rows: rows, dim: dim)
        let c = Case(x: widenedToDouble(x), weight: widenedToDouble(weight), cotangent: Buffer(count: 0),
                     y: Buffer(count: rows * dim), rstd: Buffer(count: rows))
        forward(c)
        assertClose(y.array, c.y.array.map { Float($0) }, tolerance: Tolerance.float32, "rmsNorm Float vs Double")
        assertClose(rstd.array, c.rstd.array.map { Float($0) }, tolerance: Tolerance.float32, "rmsNorm rstd")
    }

    func testNilGradientsAreSkipped() {
        let c = makeCase(seed: 34)
        forward(c)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: dim)
        backward(c, dx: dx, dWeight: dWeight)
        backward(c, dx: nil, dWeight: nil)
        let dxOnly = Buffer<Double>(count: c.x.count), dWeightOnly = Buffer<Double>(count: dim)
        backward(c, dx: dxOnly, dWeight: nil)
        backward(c, dx: nil, dWeight: dWeightOnly)
        XCTAssertEqual(dxOnly.array, dx.array, "frozen-weight dx")
        XCTAssertEqual(dWeightOnly.array, dWeight.array, "dWeight alone")
    }

    func testBackwardAccumulates() {
        let c = makeCase(seed: 35)
        forward(c)
        var random = TestRandom(seed: 36)
        let once = [Buffer<Double>(count: c.x.count), Buffer<Double>(count: dim)]
        backward(c, dx: once[0], dWeight: once[1])
        let start: [[Double]] = once.map { random.uniform($0.count) }
        let twice = start.map { Buffer($0) }
        backward(c, dx: twice[0], dWeight: twice[1])
        backward(c, dx: twice[0], dWeight: twice[1])
        for (k, name) in ["dx", "dWeight"].enumerated() {
            let expected = zip(start[k], once[k].array).map { $0 + 2 * $1 }
            assertClose(twice[k].array, expected, tolerance: naiveTolerance, "rmsNorm \(name) accumulates")
        }
    }

    /// Rows (forward, dx) and columns (dWeight) split over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let rows = 53, dim = 1001
        var random = TestRandom(seed: 37)
        let x: Buffer<Double> = random.buffer(rows * dim), weight: Buffer<Double> = random.buffer(dim)
        let dy: Buffer<Double> = random.buffer(rows * dim)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let y = Buffer<Double>(count: rows * dim), rstd = Buffer<Double>(count: rows)
            let dx = Buffer<Double>(count: rows * dim), dWeight = Buffer<Double>(count: dim)
            withKernelThreads(threads) {
                rmsNormForward(x: x.pointer, weight: weight.pointer, eps: eps, y: y.pointer, rstd: rstd.pointer,
                               rows: rows, dim: dim)
                rmsNormBackward(dy: dy.pointer, x: x.pointer, weight: weight.pointer, rstd: rstd.pointer,
                                dx: dx.pointer, dWeight: dWeight.pointer, rows: rows, dim: dim)
            }
            return y.array + rstd.array + dx.array + dWeight.array
        }
        assertBitIdentical(results[1], results[0], "threaded rmsNorm")
    }
}
