import Dispatch
import Kernels

/// Measures cblas_sgemm throughput on square matrices, the ceiling every speed number in
/// Discern is compared against.
package struct GemmProbe: Sendable {
    package let size: Int
    package let gflops: Double
    package let seconds: Double

    /// Runs one warm-up product, then repeats until at least `minimumSeconds` have passed and
    /// reports the best repetition (least disturbed by a noisy neighbour).
    package static func measure(size: Int = 1024, minimumSeconds: Double = 0.3) -> GemmProbe {
        let a = Buffer<Float>(count: size * size), b = Buffer<Float>(count: size * size)
        let c = Buffer<Float>(count: size * size)
        var random = Xoshiro256(seed: 42)
        for i in 0..<a.count { a[i] = random.uniform(-1, 1); b[i] = random.uniform(-1, 1) }
        let product = { gemm(m: size, n: size, k: size, a.pointer, b.pointer, c.pointer) }
        let best = bestSeconds(minimumSeconds: minimumSeconds, product)
        return GemmProbe(size: size, gflops: 2 * Double(size * size * size) / best / 1e9, seconds: best)
    }
}
