import Kernels
import TestSupport
import XCTest

final class RotaryEmbeddingTests: XCTestCase {
    let tokens = 5, heads = 3, headDim = 8
    let positions: [Int32] = [3, 0, 7, 7, 1]
    /// Kernel and reference evaluate the same Float64 products (two per output) with cos/sin of
    /// the same float32 angles: a few ulps of O(1) values.
    let float64Rounding = 1e-14
    /// The table holds cos/sin of float32 angles (as transformers does); against Float64 angles
    /// that is the float32 rounding of the angle.
    let float32Angles = 1e-6

    /// HF's formula spelled out: q * cos + rotate_half(q) * sin with cos = cat(freqs,
    /// freqs).cos(), freqs = position * inv_freq computed in float32 as transformers does, and
    /// rotate_half(x) = cat(-x2, x1) applied in Float64.
    func reference(_ x: [Double], theta: Double) -> [Double] {
        let half = headDim / 2
        let invFreq = (0..<half).map { 1 / Float.pow(Float(theta), Float(2 * $0) / Float(headDim)) }
        var out = x
        for t in 0..<tokens {
            let freqs = invFreq.map { Double(Float(positions[t]) * $0) }
            let emb = (freqs + freqs).map { Double(Float($0)) }
            for h in 0..<heads {
                let base = (t * heads + h) * headDim
                let q = Array(x[base..<base + headDim])
                let rotated = q[half...].map { -$0 } + q[..<half]
                for d in 0..<headDim {
                    out[base + d] = q[d] * Double.cos(emb[d]) + rotated[d] * Double.sin(emb[d])
                }
            }
        }
        return out
    }

    func testTableHoldsHFInverseFrequencies() {
        // headDim 4, theta 10000: inv_freq = [1, 1/10000^(2/4)] = [1, 0.01].
        let table = RotaryTable<Double>(headDim: 4, maxPositions: 6, theta: 10_000)
        XCTAssertEqual(table.cos[5 * 2 + 0], Double.cos(5), accuracy: float32Angles)
        XCTAssertEqual(table.sin[5 * 2 + 1], Double.sin(0.05), accuracy: float32Angles)
        XCTAssertEqual(rotaryInverseFrequencies(headDim: 4, theta: 10_000), [1, 0.01])
        XCTAssertEqual(table.cos[0], 1)
        XCTAssertEqual(table.sin[1], 0)
    }

    func testForwardMatchesHFReference() {
        var random = TestRandom(seed: 21)
        for theta in [10_000.0, 500_000.0] {
            let x: [Double] = random.uniform(tokens * heads * headDim)
            let table = RotaryTable<Double>(headDim: headDim, maxPositions: 8, theta: theta)
            let buffer = Buffer(x)
            rotaryForward(buffer.pointer, tokens: tokens, heads: heads, positions: positions, table: table)
            assertClose(buffer.array, reference(x, theta: theta), tolerance: float64Rounding, "rope theta \(theta)")

            let tableF = RotaryTable<Float>(headDim: headDim, maxPositions: 8, theta: theta)
            let bufferF = Buffer(x.map { Float($0) })
            rotaryForward(bufferF.pointer, tokens: tokens, heads: heads, positions: positions, table: tableF)
            assertClose(bufferF.array, buffer.array.map { Float($0) }, tolerance: Tolerance.float32, "rope Float vs Double")
        }
    }

    func testBackwardMatchesFiniteDifferencesAndInvertsForward() {
        var random = TestRandom(seed: 22)
        let table = RotaryTable<Double>(headDim: headDim, maxPositions: 8, theta: 10_000)
        let count = tokens * heads * headDim
        let x: Buffer<Double> = random.buffer(count)
        let cotangent: Buffer<Double> = random.buffer(count)
        let work = Buffer<Double>(count: count)
        let numerical = numericalGradient(x) {
            work.pointer.update(from: x.pointer, count: count)
            rotaryForward(work.pointer, tokens: tokens, heads: heads, positions: positions, table: table)
            return dot(work.pointer, cotangent.pointer, count)
        }
        let gradient = Buffer(cotangent.array)
        rotaryBackward(gradient.pointer, tokens: tokens, heads: heads, positions: positions, table: table)
        assertClose(gradient.array, numerical, tolerance: Tolerance.finiteDifference, "rope dx")

        // Backward is the inverse rotation: forward then backward restores x, up to
        // cos^2 + sin^2 = 1 holding to float32 precision for the table's float32 values.
        work.pointer.update(from: x.pointer, count: count)
        rotaryForward(work.pointer, tokens: tokens, heads: heads, positions: positions, table: table)
        XCTAssertGreaterThan(maxRelativeError(work.array, x.array), 0.1, "rotation did nothing")
        rotaryBackward(work.pointer, tokens: tokens, heads: heads, positions: positions, table: table)
        assertClose(work.array, x.array, tolerance: float32Angles, "rope backward(forward(x))")
    }
}
