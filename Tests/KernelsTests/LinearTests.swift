import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against a naive Double loop of the same sums: only the summation order
/// differs, a few ulps (1e-16) per term over < 10 terms.
private let naiveTolerance = 1e-12

/// Gradient checks use Tolerance.finiteDifference (1e-6): every loss here is a dot product of
/// O(1) values over < 40 elements, so central differences with step 1e-6 carry about 1e-9
/// rounding and 1e-12 truncation error (measured: 4e-10 relative), far below it, while a wrong
/// or missing backward term shows up at O(1).
final class LinearTests: XCTestCase {
    // Odd, distinct sizes, so a swapped dimension or a loop unrolled by 2 or 4 cannot pass.
    let rows = 5, inFeatures = 7, outFeatures = 3

    struct Case {
        let x, weight, bias, cotangent, y: Buffer<Double>
    }

    func makeCase(seed: UInt64) -> Case {
        var random = TestRandom(seed: seed)
        return Case(x: random.buffer(rows * inFeatures), weight: random.buffer(outFeatures * inFeatures),
                    bias: random.buffer(outFeatures), cotangent: random.buffer(rows * outFeatures),
                    y: Buffer(count: rows * outFeatures))
    }

    func forward<T: KernelScalar>(_ x: Buffer<T>, _ weight: Buffer<T>, _ bias: Buffer<T>?, _ y: Buffer<T>) {
        linearForward(x: x.pointer, weight: weight.pointer, bias: bias?.pointer, y: y.pointer,
                      rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    func backward(_ c: Case, dx: Buffer<Double>?, dWeight: Buffer<Double>?, dBias: Buffer<Double>?) {
        linearBackward(dy: c.cotangent.pointer, x: c.x.pointer, weight: c.weight.pointer,
                       dx: dx?.pointer, dWeight: dWeight?.pointer, dBias: dBias?.pointer,
                       rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    func testForwardMatchesNaiveLoop() {
        let c = makeCase(seed: 11)
        for withBias in [true, false] {
            c.y.pointer.update(repeating: 99, count: c.y.count)  // must be overwritten, not added to
            forward(c.x, c.weight, withBias ? c.bias : nil, c.y)
            var expected = [Double](repeating: 0, count: rows * outFeatures)
            for r in 0..<rows {
                for o in 0..<outFeatures {
                    var s = withBias ? c.bias[o] : 0
                    for i in 0..<inFeatures { s += c.x[r * inFeatures + i] * c.weight[o * inFeatures + i] }
                    expected[r * outFeatures + o] = s
                }
            }
            assertClose(c.y.array, expected, tolerance: naiveTolerance, "linear forward, bias \(withBias)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        let c = makeCase(seed: 12)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: c.weight.count)
        let dBias = Buffer<Double>(count: c.bias.count)
        backward(c, dx: dx, dWeight: dWeight, dBias: dBias)
        func loss() -> Double {
            forward(c.x, c.weight, c.bias, c.y)
            return dot(c.y.pointer, c.cotangent.pointer, c.y.count)
        }
        assertClose(dx.array, numericalGradient(c.x, loss), tolerance: Tolerance.finiteDifference, "linear dx")
        assertClose(dWeight.array, numericalGradient(c.weight, loss), tolerance: Tolerance.finiteDifference,
                    "linear dWeight")
        assertClose(dBias.array, numericalGradient(c.bias, loss), tolerance: Tolerance.finiteDifference,
                    "linear dBias")
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 13)
        let x: Buffer<Float> = random.buffer(rows * inFeatures), weight: Buffer<Float> = random.buffer(outFeatures * inFeatures)
        let bias: Buffer<Float> = random.buffer(outFeatures), y = Buffer<Float>(count: rows * outFeatures)
        forward(x, weight, bias, y)
        let yDouble = Buffer<Double>(count: y.count)
        forward(widenedToDouble(x), widenedToDouble(weight), widenedToDouble(bias), yDouble)
        assertClose(y.array, yDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "linear Float vs Double")
    }

    /// A frozen weight passes nil for dWeight (and dBias); whatever is requested must equal the
    /// full backward's value, and all-nil must be a no-op.
    func testNilGradientsAreSkipped() {
        let c = makeCase(seed: 14)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: c.weight.count)
        let dBias = Buffer<Double>(count: c.bias.count)
        backward(c, dx: dx, dWeight: dWeight, dBias: dBias)
        backward(c, dx: nil, dWeight: nil, dBias: nil)
        let dxOnly = Buffer<Double>(count: c.x.count)
        backward(c, dx: dxOnly, dWeight: nil, dBias: nil)
        XCTAssertEqual(dxOnly.array, dx.array, "frozen-weight dx")
        let dWeightOnly = Buffer<Double>(count: c.weight.count)
        backward(c, dx: nil, dWeight: dWeightOnly, dBias: nil)
        XCTAssertEqual(dWeightOnly.array, dWeight.array, "dWeight alone")
        let dBiasOnly = Buffer<Double>(count: c.bias.count)
        backward(c, dx: nil, dWeight: nil, dBias: dBiasOnly)
        XCTAssertEqual(dBiasOnly.array, dBias.array, "dBias alone")
    }

    /// Gradients are added, not written: start from random values, run the backward twice.
    func testBackwardAccumulates() {
        let c = makeCase(seed: 15)
        var random = TestRandom(seed: 16)
        let once = [Buffer<Double>(count: c.x.count), Buffer<Double>(count: c.weight.count), Buffer<Double>(count: c.bias.count)]
        backward(c, dx: once[0], dWeight: once[1], dBias: once[2])
        let start: [[Double]] = once.map { random.uniform($0.count) }
        let twice = start.map { Buffer($0) }
        backward(c, dx: twice[0], dWeight: twice[1], dBias: twice[2])
        backward(c, dx: twice[0], dWeight: twice[1], dBias: twice[2])
        for (k, name) in ["dx", "dWeight", "dBias"].enumerated() {
            let expected = zip(start[k], once[k].array).map { $0 + 2 * $1 }
            assertClose(twice[k].array, expected, tolerance: naiveTolerance, "linear \(name) accumulates")
        }
    }

    /// The bias gradient splits columns over workers: a threaded run gives bit-identical sums.
    func testThreadedMatchesSingleThread() {
        let rows = 3, inFeatures = 5, outFeatures = 17_001
        var random = TestRandom(seed: 17)
        let x: Buffer<Double> = random.buffer(rows * inFeatures), weight: Buffer<Double> = random.buffer(outFeatures * inFeatures)
        let dy: Buffer<Double> = random.buffer(rows * outFeatures)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let dBias = Buffer<Double>(count: outFeatures)
            withKernelThreads(threads) {
                linearBackward(dy: dy.pointer, x: x.pointer, weight: weight.pointer, dx: nil, dWeight: nil,
                               dBias: dBias.pointer, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
            }
            return dBias.array
        }
        assertBitIdentical(results[1], results[0], "threaded linear dBias")
    }
}
