import Kernels
import TestSupport
import XCTest

final class GemmTests: XCTestCase {
    /// Naive triple loop in Float64, the reference for every transpose case.
    func naive(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
               _ a: [Float], _ b: [Float], _ c: [Float], alpha: Double, beta: Double) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                out[i * n + j] = Float(alpha * s + beta * Double(c[i * n + j]))
            }
        }
        return out
    }

    func testAllTransposeCasesAndOddSizes() {
        var random = TestRandom(seed: 1)
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (17, 1, 9), (1, 13, 4), (31, 29, 37), (64, 3, 65), (5, 6, 0)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    for (alpha, beta) in [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)] {
                        let a: [Float] = random.uniform(m * k), b: [Float] = random.uniform(k * n)
                        let c: [Float] = random.uniform(m * n)
                        var out = c
                        a.withUnsafeBufferPointer { pa in
                            b.withUnsafeBufferPointer { pb in
                                out.withUnsafeMutableBufferPointer { pc in
                                    gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Float(alpha),
                                         pa.baseAddress!, pb.baseAddress!, beta: Float(beta), pc.baseAddress!)
                                }
                            }
                        }
                        let expected = naive(transA, transB, m, n, k, a, b, c, alpha: alpha, beta: beta)
                        assertClose(out, expected, tolerance: Tolerance.float32,
                                    "gemm m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB) alpha=\(alpha) beta=\(beta)")
                    }
                }
            }
        }
    }

    func testStridedViewsWithLeadingDimensions() {
        // A (4 x 3) block inside a (4 x 8) matrix, times B (3 x 2) inside a (3 x 5) matrix,
        // written into columns 1...2 of a (4 x 6) C.
        var random = TestRandom(seed: 2)
        let a: [Float] = random.uniform(4 * 8), b: [Float] = random.uniform(3 * 5)
        var c = [Float](repeating: 7, count: 4 * 6)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            gemm(m: 4, n: 2, k: 3, pa.baseAddress! + 2, lda: 8, pb.baseAddress! + 1, ldb: 5, pc.baseAddress! + 1, ldc: 6)
        } } }
        for i in 0..<4 {
            for j in 0..<6 {
                if j == 1 || j == 2 {
                    var s = 0.0
                    for p in 0..<3 { s += Double(a[i * 8 + 2 + p]) * Double(b[p * 5 + 1 + (j - 1)]) }
                    XCTAssertEqual(Double(c[i * 6 + j]), s, accuracy: Tolerance.float32)
                } else {
                    XCTAssertEqual(c[i * 6 + j], 7, "gemm wrote outside its view at [\(i), \(j)]")
                }
            }
        }
    }

    func testDoubleGemmMatchesNaive() {
        var random = TestRandom(seed: 3)
        let a: [Double] = random.uniform(6 * 5), b: [Double] = random.uniform(5 * 4)
        var c = [Double](repeating: 0, count: 24)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
            gemm(m: 6, n: 4, k: 5, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
        } } }
        for i in 0..<6 { for j in 0..<4 {
            var s = 0.0
            for p in 0..<5 { s += a[i * 5 + p] * b[p * 4 + j] }
            XCTAssertEqual(c[i * 4 + j], s, accuracy: Tolerance.doubleReordering)
        } }
    }
}
