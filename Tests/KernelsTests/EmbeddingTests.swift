import Kernels
import TestSupport
import XCTest

/// Gradient checks use Tolerance.finiteDifference (1e-6): the lookup is linear in the table, so
/// central differences are exact up to ~1e-10 rounding on these O(1) dot-product losses
/// (measured: 3e-10 relative).
final class EmbeddingTests: XCTestCase {
    let vocab = 11, dim = 5
    /// Repeats (3 three times, 0 twice) exercise the scatter-add; 10 is the last row.
    let idList: [Int32] = [3, 0, 7, 3, 10, 0, 3]
    var rows: Int { idList.count }

    func testForwardCopiesTableRows() {
        var random = TestRandom(seed: 51)
        let table: Buffer<Double> = random.buffer(vocab * dim), y = Buffer<Double>(count: rows * dim)
        y.pointer.update(repeating: 99, count: y.count)
        idList.withUnsafeBufferPointer { ids in
            embeddingForward(ids: ids.baseAddress!, table: table.pointer, y: y.pointer, rows: rows, vocab: vocab, dim: dim)
        }
        for (r, id) in idList.enumerated() {
            XCTAssertEqual(Array(y.array[r * dim..<(r + 1) * dim]), Array(table.array[Int(id) * dim..<(Int(id) + 1) * dim]),
                           "row \(r) is table row \(id)")
        }
    }

    func testBackwardMatchesFiniteDifferences() {
        var random = TestRandom(seed: 52)
        let table: Buffer<Double> = random.buffer(vocab * dim), cotangent: Buffer<Double> = random.buffer(rows * dim)
        let y = Buffer<Double>(count: rows * dim), dTable = Buffer<Double>(count: vocab * dim)
        idList.withUnsafeBufferPointer { idBuffer in
            let ids = idBuffer.baseAddress!
            embeddingBackward(dy: cotangent.pointer, ids: ids, dTable: dTable.pointer, rows: rows, vocab: vocab, dim: dim)
            let numerical = numericalGradient(table) {
                embeddingForward(ids: ids, table: table.pointer, y: y.pointer, rows: rows, vocab: vocab, dim: dim)
                return dot(y.pointer, cotangent.pointer, y.count)
            }
            assertClose(dTable.array, numerical, tolerance: Tolerance.finiteDifference, "embedding dTable")
        }
        // Rows never looked up get exactly zero.
        XCTAssertEqual(Array(dTable.array[dim..<2 * dim]), [Double](repeating: 0, count: dim))
    }

    func testFloatForwardMatchesDouble() {
        var random = TestRandom(seed: 53)
        let table: Buffer<Float> = random.buffer(vocab * dim), y = Buffer<Float>(count: rows * dim)
        let tableDouble = widenedToDouble(table), yDouble = Buffer<Double>(count: rows * dim)
        idList.withUnsafeBufferPointer { ids in
            embeddingForward(ids: ids.baseAddress!, table: table.pointer, y: y.pointer, rows: rows, vocab: vocab, dim: dim)
            embeddingForward(ids: ids.baseAddress!, table: tableDouble.pointer, y: yDouble.pointer,
                             rows: rows, vocab: vocab, dim: dim)
        }
        XCTAssertEqual(y.array, yDouble.array.map { Float($0) }, "a copy is exact in both precisions")
    }

    /// Frozen embeddings pass nil: nothing is written anywhere.
    /// A frozen table (nil gradient) returns before it reads anything: ids outside the vocabulary,
    /// which the id check would trap on, go through, and dy is left as it was.
    func testNilGradientIsSkipped() {
        let dy = Buffer<Double>([Double](repeating: 1, count: rows * dim))
        let outside = [Int32](repeating: Int32(vocab + 7), count: rows)
        outside.withUnsafeBufferPointer { ids in
            embeddingBackward(dy: dy.pointer, ids: ids.baseAddress!, dTable: nil, rows: rows, vocab: vocab, dim: dim)
        }
        XCTAssertEqual(dy.array, [Double](repeating: 1, count: rows * dim))
    }

    func testBackwardAccumulates() {
        var random = TestRandom(seed: 54)
        let dy: Buffer<Double> = random.buffer(rows * dim), once = Buffer<Double>(count: vocab * dim)
        let start: [Double] = random.uniform(vocab * dim)
        let twice = Buffer(start)
        idList.withUnsafeBufferPointer { ids in
            embeddingBackward(dy: dy.pointer, ids: ids.baseAddress!, dTable: once.pointer, rows: rows, vocab: vocab, dim: dim)
            for _ in 0..<2 {
                embeddingBackward(dy: dy.pointer, ids: ids.baseAddress!, dTable: twice.pointer,
                                  rows: rows, vocab: vocab, dim: dim)
            }
        }
        assertClose(twice.array, zip(start, once.array).map { $0 + 2 * $1 }, tolerance: Tolerance.doubleReordering,
                    "embedding dTable accumulates (a few additions of O(1) values: ulp-level error)")
    }

    /// Rows (forward) and columns (backward scatter) split over workers: bit-identical results.
    func testThreadedMatchesSingleThread() {
        let rows = 53, vocab = 17, dim = 1001
        var random = TestRandom(seed: 55)
        let table: Buffer<Double> = random.buffer(vocab * dim), dy: Buffer<Double> = random.buffer(rows * dim)
        let ids: [Int32] = (0..<rows).map { _ in Int32(random.generator.next() % UInt64(vocab)) }
        let results: [[Double]] = [1, testThreadCount].map { threads in
            let y = Buffer<Double>(count: rows * dim), dTable = Buffer<Double>(count: vocab * dim)
            ids.withUnsafeBufferPointer { i in
                withKernelThreads(threads) {
                    embeddingForward(ids: i.baseAddress!, table: table.pointer, y: y.pointer, rows: rows, vocab: vocab, dim: dim)
                    embeddingBackward(dy: dy.pointer, ids: i.baseAddress!, dTable: dTable.pointer, rows: rows,
                                      vocab: vocab, dim: dim)
                }
            }
            return y.array + dTable.array
        }
        assertBitIdentical(results[1], results[0], "threaded embedding")
    }
}
