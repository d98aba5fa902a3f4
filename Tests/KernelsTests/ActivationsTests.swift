import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against values computed independently with Python's math module
/// (math.erf, math.tanh, math.exp on the textbook formulas): libm's erf/exp/tanh are faithful to
/// ~1 ulp, so a few ulps of 1e-16 separate the two.
private let referenceTolerance = 1e-14

/// Gradient checks use Tolerance.finiteDifference (1e-6): the activations are smooth, inputs lie
/// in [-3, 3] where their derivatives are O(1), and the losses are dot products over 37 O(1)
/// terms, so central differences with step 1e-6 err by about 1e-9
/// (measured: 3e-10 to 8e-10 relative).
final class ActivationsTests: XCTestCase {
    let count = 37
    let all: [ActivationFunction] = [.gelu, .geluTanh, .quickGelu, .silu]

    /// f(x) at x = 1, -1, 2.5, -0.5 from Python's math module.
    let knownValues: [(ActivationFunction, [Double])] = [
        (.gelu, [0.8413447460685429, -0.15865525393145707, 2.4844758366855597, -0.15426876936299344]),
        (.geluTanh, [0.8411919906082768, -0.15880800939172324, 2.484915733910001, -0.15428599017485606]),
        (.quickGelu, [0.8457957659328212, -0.1542042340671787, 2.46501383495143, -0.1496115633936199]),
        (.silu, [0.7310585786300049, -0.2689414213699951, 2.3103545499468914, -0.1887703343990727]),
    ]

    func testKnownValues() {
        let x = Buffer<Double>([1, -1, 2.5, -0.5]), y = Buffer<Double>(count: 4)
        for (function, expected) in knownValues {
            activationForward(function, x: x.pointer, y: y.pointer, count: 4)
            for i in 0..<4 {
                XCTAssertEqual(y[i], expected[i], accuracy: referenceTolerance, "\(function)(\(x[i]))")
            }
        }
        // SwiGLU is silu(gate) * up: silu(1) * 3 and silu(-1) * -2.
        let gate = Buffer<Double>([1, -1]), up = Buffer<Double>([3, -2]), out = Buffer<Double>(count: 2)
        swiGLUForward(gate: gate.pointer, up: up.pointer, y: out.pointer, count: 2)
        XCTAssertEqual(out[0], 0.7310585786300049 * 3, accuracy: referenceTolerance)
        XCTAssertEqual(out[1], -0.2689414213699951 * -2, accuracy: referenceTolerance)
    }

    /// Far tails must give the limits (x or 0) and finite derivatives, never NaN from an
    /// overflowing exp.
    func testTailsAreFinite() {
        for function in all {
            for value in [-100.0, 100.0] as [Float] {
                let x = Buffer<Float>([value]), y = Buffer<Float>(count: 1), dx = Buffer<Float>(count: 1)
                let one = Buffer<Float>([1])
                activationForward(function, x: x.pointer, y: y.pointer, count: 1)
                activationBackward(function, dy: one.pointer, x: x.pointer, dx: dx.pointer, count: 1)
                XCTAssertEqual(y[0], value > 0 ? value : 0, accuracy: Float(Tolerance.float32Operations), "\(function)(\(value))")
                XCTAssertEqual(dx[0], value > 0 ? 1 : 0, accuracy: Float(Tolerance.float32Operations), "\(function)'(\(value))")
            }
        }
    }

    func testHuggingFaceNames() {
        XCTAssertEqual(ActivationFunction(huggingFaceName: "gelu"), .gelu)
        XCTAssertEqual(ActivationFunction(huggingFaceName: "gelu_pytorch_tanh"), .geluTanh)
        XCTAssertEqual(ActivationFunction(huggingFaceName: "gelu_new"), .geluTanh)
        XCTAssertEqual(ActivationFunction(huggingFaceName: "quick_gelu"), .quickGelu)
        XCTAssertEqual(ActivationFunction(huggingFaceName: "silu"), .silu)
        XCTAssertNil(ActivationFunction(huggingFaceName: "relu6"))
    }

    func testBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 41)
        let x: Buffer<Double> = random.buffer(count, -3, 3), cotangent: Buffer<Double> = random.buffer(count)
        let y = Buffer<Double>(count: count)
        for function in all {
            let dx = Buffer<Double>(count: count)
            activationBackward(function, dy: cotangent.pointer, x: x.pointer, dx: dx.pointer, count: count)
            let numerical = numericalGradient(x) {
                activationForward(function, x: x.pointer, y: y.pointer, count: count)
                return dot(y.pointer, cotangent.pointer, count)
            }
            assertClose(dx.array, numerical, tolerance: Tolerance.finiteDifference, "\(function) dx")
        }
    }

    func testSwiGLUBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 42)
        let gate: Buffer<Double> = random.buffer(count, -3, 3), up: Buffer<Double> = random.buffer(count, -3, 3)
        let cotangent: Buffer<Double> = random.buffer(count), y = Buffer<Double>(count: count)
        let dGate = Buffer<Double>(count: count), dUp = Buffer<Double>(count: count)
        swiGLUBackward(dy: cotangent.pointer, gate: gate.pointer, up: up.pointer, dGate: dGate.pointer,
                       dUp: dUp.pointer, count: count)
        func loss() -> Double {
            swiGLUForward(gate: gate.pointer, up: up.pointer, y: y.pointer, count: count)
            return dot(y.pointer, cotangent.pointer, count)
        }
        assertClose(dGate.array, numericalGradient(gate, loss), tolerance: Tolerance.finiteDifference, "swiGLU dGate")
        assertClose(dUp.array, numericalGradient(up, loss), tolerance: Tolerance.finiteDifference, "swiGLU dUp")
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 43)
        let x: Buffer<Float> = random.buffer(count, -3, 3), up: Buffer<Float> = random.buffer(count, -3, 3)
        let y = Buffer<Float>(count: count), yDouble = Buffer<Double>(count: count)
        let xDouble = widenedToDouble(x), upDouble = widenedToDouble(up)
        for function in all {
            activationForward(function, x: x.pointer, y: y.pointer, count: count)
            activationForward(function, x: xDouble.pointer, y: yDouble.pointer, count: count)
            assertClose(y.array, yDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "\(function) Float vs Double")
        }
        swiGLUForward(gate: x.pointer, up: up.pointer, y: y.pointer, count: count)
        swiGLUForward(gate: xDouble.pointer, up: upDouble.pointer, y: yDouble.pointer, count: count)
        assertClose(y.array, yDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "swiGLU Float vs Double")
    }

    /// dx is added to: starting from random values, two backwards add twice the gradient.
    func testBackwardAccumulates() {
        var random = TestRandom(seed: 44)
        let x: Buffer<Double> = random.buffer(count, -3, 3), up: Buffer<Double> = random.buffer(count, -3, 3)
        let dy: Buffer<Double> = random.buffer(count)
        for function in all {
            let once = Buffer<Double>(count: count)
            activationBackward(function, dy: dy.pointer, x: x.pointer, dx: once.pointer, count: count)
            let start: [Double] = random.uniform(count)
            let twice = Buffer(start)
            activationBackward(function, dy: dy.pointer, x: x.pointer, dx: twice.pointer, count: count)
            activationBackward(function, dy: dy.pointer, x: x.pointer, dx: twice.pointer, count: count)
            assertClose(twice.array, zip(start, once.array).map { $0 + 2 * $1 }, tolerance: referenceTolerance,
                        "\(function) accumulates")
        }
        let onceGate = Buffer<Double>(count: count), onceUp = Buffer<Double>(count: count)
        swiGLUBackward(dy: dy.pointer, gate: x.pointer, up: up.pointer, dGate: onceGate.pointer, dUp: onceUp.pointer,
                       count: count)
        let startGate: [Double] = random.uniform(count), startUp: [Double] = random.uniform(count)
        let dGate = Buffer(startGate), dUp = Buffer(startUp)
        for _ in 0..<2 {
            swiGLUBackward(dy: dy.pointer, gate: x.pointer, up: up.pointer, dGate: dGate.pointer, dUp: dUp.pointer,
                           count: count)
        }
        assertClose(dGate.array, zip(startGate, onceGate.array).map { $0 + 2 * $1 }, tolerance: referenceTolerance,
                    "swiGLU dGate accumulates")
        assertClose(dUp.array, zip(startUp, onceUp.array).map { $0 + 2 * $1 }, tolerance: referenceTolerance,
                    "swiGLU dUp accumulates")
    }

    /// The enum dispatch calls the named kernels (a swapped case would pass every other test
    /// that goes through the dispatch).
    func testDispatchMatchesNamedKernels() {
        var random = TestRandom(seed: 45)
        let x: Buffer<Double> = random.buffer(count, -3, 3), dy: Buffer<Double> = random.buffer(count)
        let viaEnum = Buffer<Double>(count: count), direct = Buffer<Double>(count: count)
        let forwards: [(ActivationFunction, (UnsafePointer<Double>, UnsafeMutablePointer<Double>, Int) -> Void)] = [
            (.gelu, { geluForward(x: $0, y: $1, count: $2) }), (.geluTanh, { geluTanhForward(x: $0, y: $1, count: $2) }),
            (.quickGelu, { quickGeluForward(x: $0, y: $1, count: $2) }), (.silu, { siluForward(x: $0, y: $1, count: $2) }),
        ]
        for (function, kernel) in forwards {
            activationForward(function, x: x.pointer, y: viaEnum.pointer, count: count)
            kernel(x.pointer, direct.pointer, count)
            XCTAssertEqual(viaEnum.array, direct.array, "\(function) forward dispatch")
        }
        let backwards: [(ActivationFunction, (UnsafeMutablePointer<Double>) -> Void)] = [
            (.gelu, { geluBackward(dy: dy.pointer, x: x.pointer, dx: $0, count: self.count) }),
            (.geluTanh, { geluTanhBackward(dy: dy.pointer, x: x.pointer, dx: $0, count: self.count) }),
            (.quickGelu, { quickGeluBackward(dy: dy.pointer, x: x.pointer, dx: $0, count: self.count) }),
            (.silu, { siluBackward(dy: dy.pointer, x: x.pointer, dx: $0, count: self.count) }),
        ]
        for (function, kernel) in backwards {
            viaEnum.zero(); direct.zero()
            activationBackward(function, dy: dy.pointer, x: x.pointer, dx: viaEnum.pointer, count: count)
            kernel(direct.pointer)
            XCTAssertEqual(viaEnum.array, direct.array, "\(function) backward dispatch")
        }
    }

    /// Elementwise chunks split over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let count = 3 * 16_384 + 7
        var random = TestRandom(seed: 46)
        let x: Buffer<Double> = random.buffer(count, -3, 3), up: Buffer<Double> = random.buffer(count)
        let dy: Buffer<Double> = random.buffer(count)
        let results: [[Double]] = [1, testThreadCount].map { threads in
            var out: [Double] = []
            let y = Buffer<Double>(count: count), dx = Buffer<Double>(count: count), dUp = Buffer<Double>(count: count)
            withKernelThreads(threads) {
                for function in all {
                    dx.zero()
                    activationForward(function, x: x.pointer, y: y.pointer, count: count)
                    activationBackward(function, dy: dy.pointer, x: x.pointer, dx: dx.pointer, count: count)
                    out += y.array + dx.array
                }
                dx.zero()
                swiGLUForward(gate: x.pointer, up: up.pointer, y: y.pointer, count: count)
                swiGLUBackward(dy: dy.pointer, gate: x.pointer, up: up.pointer, dGate: dx.pointer, dUp: dUp.pointer,
                               count: count)
                out += y.array + dx.array + dUp.array
            }
            return out
        }
        assertBitIdentical(results[1], results[0], "threaded activations")
    }
}

/// The eight-lane exp behind the Float activations against the scalar library, over the range
/// activations meet (and beyond it, where the clamp keeps results finite and ordered).
final class VectorExpTests: XCTestCase {
    /// Cephes' single-precision exp is within a few ulp: 4e-7 relative leaves room for that.
    static let relative = 4e-7

    func testExp8MatchesScalarExp() {
        var worst = 0.0
        var x = -87.0
        while x < 88 {
            let lanes = SIMD8<Float>((0..<8).map { Float(x + Double($0) * 0.013) })
            let result = exp8(lanes)
            for i in 0..<8 {
                let expected = Foundation.exp(Double(lanes[i]))
                worst = max(worst, abs(Double(result[i]) - expected) / expected)
            }
            x += 0.37
        }
        XCTAssertLessThanOrEqual(worst, Self.relative, "exp8 worst relative error \(worst)")
        let extremes = exp8(SIMD8<Float>(-1000, -88, -87, 0, 1, 88, 89, 1000))
        XCTAssertTrue((0..<8).allSatisfy { extremes[$0].isFinite && extremes[$0] >= 0 }, "\(extremes)")
        XCTAssertEqual(sigmoid8(SIMD8<Float>(repeating: -1000))[0], 0, accuracy: Float.leastNormalMagnitude, "exp(-1000) underflows: below float32's smallest normal number")
        XCTAssertEqual(sigmoid8(SIMD8<Float>(repeating: 1000))[0], 1)
    }
}
