import Kernels
import TestSupport
import XCTest

/// Kernel (Double) against log/exp written out by hand: libm's log and exp are within ~1 ulp,
/// so a handful of them differ by ~1e-15.
private let referenceTolerance = 1e-13

/// Gradient checks use Tolerance.finiteDifference (1e-6): logits in [-3, 3] keep softmax away
/// from saturation, the loss is O(1), so central differences with step 1e-6 err by ~1e-9
/// (measured: 2.4e-9 relative).
final class CrossEntropyTests: XCTestCase {
    let rows = 7, vocab = 11
    /// Two ignored rows (-100) and the first and last class.
    let targetList: [Int32] = [4, -100, 0, 10, 7, -100, 4]

    /// Row 0: logits (1, 2, 3), target 2: log(e + e^2 + e^3) - 3 = 0.40760596444438013.
    /// Row 1: ignored.  Row 2: logits (0, 0, 0), target 1: log 3.
    /// Mean over the two counted rows.
    func testHandComputedCaseWithIgnoredRow() {
        let logits = Buffer<Double>([1, 2, 3, 5, -7, 9, 0, 0, 0]), lse = Buffer<Double>(count: 3)
        let targets: [Int32] = [2, -100, 1]
        let result = targets.withUnsafeBufferPointer { t in
            crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: 3, vocab: 3)
        }
        XCTAssertEqual(result.count, 2)
        XCTAssertEqual(result.loss, (0.40760596444438013 + Double.log(3)) / 2, accuracy: referenceTolerance)
        XCTAssertEqual(lse[0], 3.40760596444438013, accuracy: referenceTolerance)
        XCTAssertEqual(lse[2], Double.log(3), accuracy: referenceTolerance)
        // dlogits = (softmax - onehot) / 2 on counted rows, nothing on the ignored one.
        let dLogits = Buffer<Double>(count: 9)
        targets.withUnsafeBufferPointer { t in
            crossEntropyBackward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, scale: 1,
                                 count: result.count, dLogits: dLogits.pointer, rows: 3, vocab: 3)
        }
        let e = [Double.exp(1), Double.exp(2), Double.exp(3)], total = e.reduce(0, +)
        let expected = [e[0] / total / 2, e[1] / total / 2, (e[2] / total - 1) / 2, 0, 0, 0,
                        1.0 / 6, (1.0 / 3 - 1) / 2, 1.0 / 6]
        assertClose(dLogits.array, expected, tolerance: referenceTolerance, "hand-computed dlogits")
    }

    /// torch gives NaN (0 / 0) when every target is ignored; Discern gives loss 0, count 0 and
    /// no gradient. A different ignore index is honoured.
    func testEveryRowIgnored() {
        let logits = Buffer<Double>([1, 2, 3, 4, 5, 6]), dLogits = Buffer<Double>([7, 7, 7, 7, 7, 7])
        for (targets, ignoreIndex) in [([-100, -100], Int32(-100)), ([-1, -1], -1)] as [([Int32], Int32)] {
            let result = targets.withUnsafeBufferPointer { t in
                crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: nil, rows: 2, vocab: 3,
                                    ignoreIndex: ignoreIndex)
            }
            XCTAssertEqual(result, CrossEntropyResult(loss: 0, count: 0))
            targets.withUnsafeBufferPointer { t in
                crossEntropyBackward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: nil, scale: 1,
                                     count: result.count, dLogits: dLogits.pointer, rows: 2, vocab: 3,
                                     ignoreIndex: ignoreIndex)
            }
            XCTAssertEqual(dLogits.array, [7, 7, 7, 7, 7, 7], "no gradient when nothing is counted")
        }
    }

    /// Logits near 1000 would overflow a naive exp; the loss is shift-invariant.
    func testLargeLogitsAreStable() {
        let small: [Float] = [1, 2, 3, 0.5, -1, 2]
        let large = Buffer<Float>(small.map { $0 + 1000 }), reference = Buffer<Float>(small)
        let targets: [Int32] = [2, 0]
        let (a, b) = targets.withUnsafeBufferPointer { t in
            (crossEntropyForward(logits: large.pointer, targets: t.baseAddress!, logSumExp: nil, rows: 2, vocab: 3),
             crossEntropyForward(logits: reference.pointer, targets: t.baseAddress!, logSumExp: nil, rows: 2, vocab: 3))
        }
        XCTAssertTrue(a.loss.isFinite)
        // Float logits near 1000 are spaced 6e-5 apart, so the shift costs about that much.
        let floatSpacingNear1000 = 1e-4
        XCTAssertEqual(a.loss, b.loss, accuracy: floatSpacingNear1000)
    }

    func testBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 71)
        let logits: Buffer<Double> = random.buffer(rows * vocab, -3, 3), lse = Buffer<Double>(count: rows)
        let scale = 0.7  // the upstream gradient, e.g. the NTP loss weight
        targetList.withUnsafeBufferPointer { t in
            let targets = t.baseAddress!
            let result = crossEntropyForward(logits: logits.pointer, targets: targets, logSumExp: lse.pointer,
                                             rows: rows, vocab: vocab)
            XCTAssertEqual(result.count, 5)
            let dLogits = Buffer<Double>(count: rows * vocab)
            crossEntropyBackward(logits: logits.pointer, targets: targets, logSumExp: lse.pointer, scale: scale,
                                 count: result.count, dLogits: dLogits.pointer, rows: rows, vocab: vocab)
            let numerical = numericalGradient(logits) {
                scale * crossEntropyForward(logits: logits.pointer, targets: targets, logSumExp: nil,
                                            rows: rows, vocab: vocab).loss
            }
            assertClose(dLogits.array, numerical, tolerance: Tolerance.finiteDifference, "cross-entropy dLogits")
            // Without the saved log-sum-exp the backward recomputes it: same gradient.
            let recomputed = Buffer<Double>(count: rows * vocab)
            crossEntropyBackward(logits: logits.pointer, targets: targets, logSumExp: nil, scale: scale,
                                 count: result.count, dLogits: recomputed.pointer, rows: rows, vocab: vocab)
            assertClose(recomputed.array, dLogits.array, tolerance: referenceTolerance, "recomputed log-sum-exp")
        }
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 72)
        let logits: Buffer<Float> = random.buffer(rows * vocab, -3, 3)
        let logitsDouble = widenedToDouble(logits)
        let lse = Buffer<Float>(count: rows), lseDouble = Buffer<Double>(count: rows)
        targetList.withUnsafeBufferPointer { t in
            let single = crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: lse.pointer,
                                             rows: rows, vocab: vocab)
            let double = crossEntropyForward(logits: logitsDouble.pointer, targets: t.baseAddress!,
                                             logSumExp: lseDouble.pointer, rows: rows, vocab: vocab)
            let unsaved = crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: nil,
                                              rows: rows, vocab: vocab)
            XCTAssertEqual(single.count, double.count)
            XCTAssertEqual(single.loss, double.loss, accuracy: Tolerance.float32 * abs(double.loss))
            XCTAssertEqual(unsaved, single, "saving the log-sum-exp does not change the loss")
        }
        assertClose(lse.array, lseDouble.array.map { Float($0) }, tolerance: Tolerance.float32, "log-sum-exp Float vs Double")
    }

    func testBackwardAccumulates() {
        var random = TestRandom(seed: 73)
        let logits: Buffer<Double> = random.buffer(rows * vocab, -3, 3), once = Buffer<Double>(count: rows * vocab)
        let start: [Double] = random.uniform(rows * vocab)
        let twice = Buffer(start)
        targetList.withUnsafeBufferPointer { t in
            let result = crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: nil,
                                             rows: rows, vocab: vocab)
            for (buffer, times) in [(once, 1), (twice, 2)] {
                for _ in 0..<times {
                    crossEntropyBackward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: nil, scale: 1,
                                         count: result.count, dLogits: buffer.pointer, rows: rows, vocab: vocab)
                }
            }
        }
        assertClose(twice.array, zip(start, once.array).map { $0 + 2 * $1 }, tolerance: referenceTolerance,
                    "cross-entropy dLogits accumulates")
    }

    /// Rows split over workers (forward with a saved log-sum-exp, and backward): bit-identical.
    func testThreadedMatchesSingleThread() {
        let rows = 53, vocab = 1001
        var random = TestRandom(seed: 74)
        let logits: Buffer<Double> = random.buffer(rows * vocab, -3, 3)
        let targets: [Int32] = (0..<rows).map { r in r % 5 == 0 ? -100 : Int32(random.generator.next() % UInt64(vocab)) }
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let lse = Buffer<Double>(count: rows), dLogits = Buffer<Double>(count: rows * vocab)
            let result = targets.withUnsafeBufferPointer { t in
                withKernelThreads(threads) {
                    let result = crossEntropyForward(logits: logits.pointer, targets: t.baseAddress!,
                                                     logSumExp: lse.pointer, rows: rows, vocab: vocab)
                    crossEntropyBackward(logits: logits.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, scale: 1,
                                         count: result.count, dLogits: dLogits.pointer, rows: rows, vocab: vocab)
                    return result
                }
            }
            return [result.loss, Double(result.count)] + lse.array + dLogits.array
        }
        assertBitIdentical(results[1], results[0], "threaded cross-entropy")
    }
}
