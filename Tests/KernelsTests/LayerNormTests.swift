import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against naive Double formulas: only rounding order differs (~1e-16 per op).
private let naiveTolerance = 1e-12

/// Gradient checks use Tolerance.finiteDifference (1e-6): the losses are dot products of O(1)
/// values over < 40 elements and the normalised rows have variance well above eps, so the
/// loss is smooth at the scale of the 1e-6 step; central differences then err by about 1e-9,
/// 1e-8 on the row offset by 100 (measured: 1.1e-8 for dx, 2e-10 for dWeight and dBias).
final class LayerNormTests: XCTestCase {
    let rows = 3, dim = 7
    let eps = 1e-5

    struct Case {
        let x, weight, bias, cotangent, y, mean, rstd: Buffer<Double>
    }

    func makeCase(seed: UInt64) -> Case {
        var random = TestRandom(seed: seed)
        let x: Buffer<Double> = random.buffer(rows * dim, -2, 2)
        // Last row far from zero: a one-pass E[x^2] - E[x]^2 variance would lose digits here.
        for i in 0..<dim { x[(rows - 1) * dim + i] += 100 }
        return Case(x: x, weight: random.buffer(dim, 0.5, 1.5), bias: random.buffer(dim),
                    cotangent: random.buffer(rows * dim), y: Buffer(count: rows * dim),
                    mean: Buffer(count: rows), rstd: Buffer(count: rows))
    }

    func forward(_ c: Case) {
        layerNormForward(x: c.x.pointer, weight: c.weight.pointer, bias: c.bias.pointer, eps: eps,
                         y: c.y.pointer, mean: c.mean.pointer, rstd: c.rstd.pointer, rows: rows, dim: dim)
    }

    func backward(_ c: Case, dx: Buffer<Double>?, dWeight: Buffer<Double>?, dBias: Buffer<Double>?) {
        layerNormBackward(dy: c.cotangent.pointer, x: c.x.pointer, weight: c.weight.pointer,
                          mean: c.mean.pointer, rstd: c.rstd.pointer,
                          dx: dx?.pointer, dWeight: dWeight?.pointer, dBias: dBias?.pointer, rows: rows, dim: dim)
    }

    /// With weight 1 and bias 0 each row comes out with mean 0 and (biased) variance
    /// v / (v + eps); the saved statistics are the row's mean and 1 / sqrt(v + eps); with a
    /// random affine the output is xhat * weight + bias.
    func testForwardNormalisesRows() {
        let c = makeCase(seed: 21)
        let unitWeight = Buffer<Double>([Double](repeating: 1, count: dim)), zeroBias = Buffer<Double>(count: dim)
        let yPlain = Buffer<Double>(count: rows * dim)
        layerNormForward(x: c.x.pointer, weight: unitWeight.pointer, bias: zeroBias.pointer, eps: eps,
                         y: yPlain.pointer, mean: c.mean.pointer, rstd: c.rstd.pointer, rows: rows, dim: dim)
        forward(c)
        for r in 0..<rows {
            let row = Array(c.x.array[r * dim..<(r + 1) * dim]), out = Array(yPlain.array[r * dim..<(r + 1) * dim])
            let m = row.reduce(0, +) / Double(dim)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(dim)
            let outMean = out.reduce(0, +) / Double(dim)
            let outVariance = out.map { ($0 - outMean) * ($0 - outMean) }.reduce(0, +) / Double(dim)
            XCTAssertEqual(outMean, 0, accuracy: naiveTolerance, "row \(r) mean")
            XCTAssertEqual(outVariance, v / (v + eps), accuracy: naiveTolerance, "row \(r) variance")
            XCTAssertEqual(c.mean[r], m, accuracy: naiveTolerance * abs(m) + naiveTolerance, "saved mean \(r)")
            XCTAssertEqual(c.rstd[r], 1 / (v + eps).squareRoot(), accuracy: naiveTolerance, "saved rstd \(r)")
            for i in 0..<dim {
                XCTAssertEqual(c.y[r * dim + i], out[i] * c.weight[i] + c.bias[i], accuracy: naiveTolerance,
                               "affine [\(r), \(i)]")
            }
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        let c = makeCase(seed: 22)
        forward(c)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: dim), dBias = Buffer<Double>(count: dim)
        backward(c, dx: dx, dWeight: dWeight, dBias: dBias)
        func loss() -> Double {
            forward(c)
            return dot(c.y.pointer, c.cotangent.pointer, c.y.count)
        }
        assertClose(dx.array, numericalGradient(c.x, loss), tolerance: Tolerance.finiteDifference, "layerNorm dx")
        assertClose(dWeight.array, numericalGradient(c.weight, loss), tolerance: Tolerance.finiteDifference,
                    "layerNorm dWeight")
        assertClose(dBias.array, numericalGradient(c.bias, loss), tolerance: Tolerance.finiteDifference,
                    "layerNorm dBias")
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 23)
        let x: Buffer<Float> = random.buffer(rows * dim, -2, 2), weight: Buffer<Float> = random.buffer(dim)
        let bias: Buffer<Float> = random.buffer(dim)
        let y = Buffer<Float>(count: rows * dim), mean = Buffer<Float>(count: rows), rstd = Buffer<Float>(count: rows)
        layerNormForward(x: x.pointer, weight: weight.pointer, bias: bias.pointer, eps: Float(eps), y: y.pointer,
                         mean: mean.pointer, rstd: rstd.pointer, rows: rows, dim: dim)
        let c = Case(x: widenedToDouble(x), weight: widenedToDouble(weight), bias: widenedToDouble(bias),
                     cotangent: Buffer(count: 0), y: Buffer(count: rows * dim), mean: Buffer(count: rows),
                     rstd: Buffer(count: rows))
        forward(c)
        assertClose(y.array, c.y.array.map { Float($0) }, tolerance: Tolerance.float32, "layerNorm Float vs Double")
        assertClose(rstd.array, c.rstd.array.map { Float($0) }, tolerance: Tolerance.float32, "layerNorm rstd")
    }

    func testNilGradientsAreSkipped() {
        let c = makeCase(seed: 24)
        forward(c)
        let dx = Buffer<Double>(count: c.x.count), dWeight = Buffer<Double>(count: dim), dBias = Buffer<Double>(count: dim)
        backward(c, dx: dx, dWeight: dWeight, dBias: dBias)
        backward(c, dx: nil, dWeight: nil, dBias: nil)
        let dxOnly = Buffer<Double>(count: c.x.count)
        backward(c, dx: dxOnly, dWeight: nil, dBias: nil)
        XCTAssertEqual(dxOnly.array, dx.array, "frozen-affine dx")
        let dWeightOnly = Buffer<Double>(count: dim), dBiasOnly = Buffer<Double>(count: dim)
        backward(c, dx: nil, dWeight: dWeightOnly, dBias: nil)
        backward(c, dx: nil, dWeight: nil, dBias: dBiasOnly)
        XCTAssertEqual(dWeightOnly.array, dWeight.array, "dWeight alone")
        XCTAssertEqual(dBiasOnly.array, dBias.array, "dBias alone")
    }

    func testBackwardAccumulates() {
        let c = makeCase(seed: 25)
        forward(c)
        var random = TestRandom(seed: 26)
        let once = [Buffer<Double>(count: c.x.count), Buffer<Double>(count: dim), Buffer<Double>(count: dim)]
        backward(c, dx: once[0], dWeight: once[1], dBias: once[2])
        let start: [[Double]] = once.map { random.uniform($0.count) }
        let twice = start.map { Buffer($0) }
        backward(c, dx: twice[0], dWeight: twice[1], dBias: twice[2])
        backward(c, dx: twice[0], dWeight: twice[1], dBias: twice[2])
        for (k, name) in ["dx", "dWeight", "dBias"].enumerated() {
            let expected = zip(start[k], once[k].array).map { $0 + 2 * $1 }
            assertClose(twice[k].array, expected, tolerance: naiveTolerance, "layerNorm \(name) accumulates")
        }
    }

    /// Rows (forward, dx) and columns (dWeight, dBias) split over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let rows = 53, dim = 1001
        var random = TestRandom(seed: 27)
        let x: Buffer<Double> = random.buffer(rows * dim), weight: Buffer<Double> = random.buffer(dim)
        let bias: Buffer<Double> = random.buffer(dim), dy: Buffer<Double> = random.buffer(rows * dim)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let y = Buffer<Double>(count: rows * dim), mean = Buffer<Double>(count: rows), rstd = Buffer<Double>(count: rows)
            let dx = Buffer<Double>(count: rows * dim), dWeight = Buffer<Double>(count: dim), dBias = Buffer<Double>(count: dim)
            withKernelThreads(threads) {
                layerNormForward(x: x.pointer, weight: weight.pointer, bias: bias.pointer, eps: eps, y: y.pointer,
                                 mean: mean.pointer, rstd: rstd.pointer, rows: rows, dim: dim)
                layerNormBackward(dy: dy.pointer, x: x.pointer, weight: weight.pointer, mean: mean.pointer,
                                  rstd: rstd.pointer, dx: dx.pointer, dWeight: dWeight.pointer, dBias: dBias.pointer,
                                  rows: rows, dim: dim)
            }
            return y.array + mean.array + rstd.array + dx.array + dWeight.array + dBias.array
        }
        assertBitIdentical(results[1], results[0], "threaded layerNorm")
    }
}
