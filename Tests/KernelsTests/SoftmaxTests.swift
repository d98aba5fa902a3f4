import Kernels
import TestSupport
import XCTest

final class SoftmaxTests: XCTestCase {
    /// Doubling a Float64 value is exact and the two backward calls see identical inputs: only
    /// the final addition can round.
    let float64Rounding = 1e-14
    /// Float input rounding at |x| <= 200 moves each exponent by up to 200 * 2^-24; a few of
    /// those on top of the float32 reduction error.
    let largeInputFloatTolerance = 1e-4

    /// Naive Float64 softmax of one row, max-subtracted, all -infinity giving zeros.
    static func reference(_ row: [Double]) -> [Double] {
        let maximum = row.max() ?? 0
        if maximum == -.infinity { return row.map { _ in 0 } }
        let e = row.map { Double.exp($0 - maximum) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }

    func testForwardMatchesReferenceAndIsStableForLargeInputs() {
        var random = TestRandom(seed: 11)
        let rows = 7, columns = 13
        // Entries up to +-200: exp(200) overflows Float, so only the max-subtracted form survives.
        let x: [Double] = random.uniform(rows * columns, -200, 200)
        var expected = [Double]()
        for r in 0..<rows { expected += Self.reference(Array(x[r * columns..<(r + 1) * columns])) }

        let xd = Buffer(x), yd = Buffer<Double>(count: x.count)
        softmaxForward(x: xd.pointer, y: yd.pointer, rows: rows, columns: columns)
        assertClose(yd.array, expected, tolerance: Tolerance.finiteDifference, "softmax Double")

        let xf = Buffer(x.map { Float($0) }), yf = Buffer<Float>(count: x.count)
        softmaxForward(x: xf.pointer, y: yf.pointer, rows: rows, columns: columns)
        XCTAssertFalse(yf.array.contains { !$0.isFinite }, "Float softmax overflowed")
        // Inputs rounded to Float shift exp() by up to |x| * 2^-24 ~ 1.2e-5 relative at |x| = 200.
        assertClose(yf.array, expected.map { Float($0) }, tolerance: largeInputFloatTolerance, "softmax Float")

        // In place (y aliases x) gives the same result.
        softmaxForward(x: xd.pointer, y: xd.pointer, rows: rows, columns: columns)
        XCTAssertEqual(xd.array, yd.array)
    }

    func testAllMaskedRowGivesZerosAndZeroGradient() {
        let columns = 4
        let x = Buffer<Double>([-.infinity, -.infinity, -.infinity, -.infinity, 0, -.infinity, 1, 2])
        let y = Buffer<Double>(count: 8)
        softmaxForward(x: x.pointer, y: y.pointer, rows: 2, columns: columns)
        XCTAssertEqual(Array(y.array[0..<4]), [0, 0, 0, 0])
        XCTAssertEqual(y[1 + 4], 0)
        assertClose(Array(y.array[4...]), Self.reference([0, -.infinity, 1, 2]),
                    tolerance: Tolerance.finiteDifference, "partly masked row")
        let dy = Buffer<Double>([1, 2, 3, 4, 5, 6, 7, 8]), dx = Buffer<Double>(count: 8)
        softmaxBackward(y: y.pointer, dy: dy.pointer, dx: dx.pointer, rows: 2, columns: columns)
        XCTAssertEqual(Array(dx.array[0..<4]), [0, 0, 0, 0])
        XCTAssertFalse(dx.array.contains { $0.isNaN })
    }

    func testBackwardMatchesFiniteDifferencesAndAccumulates() {
        var random = TestRandom(seed: 12)
        let rows = 5, columns = 9
        let x: Buffer<Double> = random.buffer(rows * columns, -3, 3)
        let cotangent: Buffer<Double> = random.buffer(rows * columns)
        let y = Buffer<Double>(count: rows * columns)
        let numerical = numericalGradient(x) {
            softmaxForward(x: x.pointer, y: y.pointer, rows: rows, columns: columns)
            return dot(y.pointer, cotangent.pointer, y.count)
        }
        softmaxForward(x: x.pointer, y: y.pointer, rows: rows, columns: columns)
        let dx = Buffer<Double>(count: x.count)
        softmaxBackward(y: y.pointer, dy: cotangent.pointer, dx: dx.pointer, rows: rows, columns: columns)
        assertClose(dx.array, numerical, tolerance: Tolerance.finiteDifference, "softmax dx")
        let once = dx.array
        softmaxBackward(y: y.pointer, dy: cotangent.pointer, dx: dx.pointer, rows: rows, columns: columns)
        assertClose(dx.array, once.map { 2 * $0 }, tolerance: float64Rounding, "softmax backward must add")
    }
}
