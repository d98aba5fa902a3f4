import Benchmark
import Kernels
import TestSupport
import XCTest

/// The benchmark's observers of the C libraries: they see what the numeric code sends to BLAS
/// and the allocator without any hook in that code.
final class ObserverTests: XCTestCase {
    /// Every product `gemm` sends to BLAS while a log records is counted once, with its shape,
    /// also from several parallelFor workers at once (attention does that); none after.
    func testShapeLogCountsProductsFromParallelWorkers() throws {
        try XCTSkipUnless(GemmShapeLog.isAvailable, "cblas_sgemm cannot be observed on this platform")
        let saved = KernelThreads.count
        KernelThreads.count = 2
        defer { KernelThreads.count = saved }
        let log = GemmShapeLog()
        let a = [Float](repeating: 1, count: 6), b = [Float](repeating: 1, count: 6)
        log.record {
            parallelFor(2000, grain: 1) { range in
                var c = [Float](repeating: 0, count: 4)
                for _ in range { gemm(m: 2, n: 2, k: 3, a, b, &c) }
            }
            var c = [Float](repeating: 0, count: 8)
            gemm(transB: true, m: 2, n: 4, k: 3, a, [Float](repeating: 1, count: 12), &c)
        }
        var c = [Float](repeating: 0, count: 4)
        gemm(m: 2, n: 2, k: 3, a, b, &c)   // after recording: not counted
        XCTAssertEqual(c, [3, 3, 3, 3], "the product still reaches BLAS")
        XCTAssertEqual(log.counts.count, 2)
        XCTAssertEqual(log.counts[GemmShapeLog.Shape(transA: false, transB: false, m: 2, n: 2, k: 3, lda: 3, ldb: 2, ldc: 2)], 2000)
        XCTAssertEqual(log.counts[GemmShapeLog.Shape(transA: false, transB: true, m: 2, n: 4, k: 3, lda: 3, ldb: 3, ldc: 4)], 1)
    }

    /// Double products are not sgemm: the log is about the Float training step.
    func testShapeLogIgnoresDoubleProducts() throws {
        try XCTSkipUnless(GemmShapeLog.isAvailable, "cblas_sgemm cannot be observed on this platform")
        let log = GemmShapeLog()
        let a = [Double](repeating: 1, count: 6), b = [Double](repeating: 1, count: 6)
        var c = [Double](repeating: 0, count: 4)
        log.record { gemm(m: 2, n: 2, k: 3, a, b, &c) }
        XCTAssertEqual(c, [3, 3, 3, 3])
        XCTAssertTrue(log.counts.isEmpty)
    }
}
