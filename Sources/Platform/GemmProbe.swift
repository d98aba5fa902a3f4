import Dispatch
import Kernels

/// Measures cblas_sgemm throughput on square matrices, the ceiling every speed number in
/// Discern is compared against, and the bf16 GEMM's (bf16Gemm: bf16 operands, fp32 result) at the
/// same size and thread count.
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
        return GemmProbe(size: size, seconds: bestSeconds(minimumSeconds: minimumSeconds, product))
    }

    /// The same product in bf16 (operands rounded from the same kind of values). Only meaningful
    /// where BFloat16Hardware.native: elsewhere oneDNN emulates bf16 or has no kernel at all.
    /// `threads`: bf16Gemm splits over Discern's own threads (KernelThreads), not OpenBLAS's.
    package static func measureBFloat16(size: Int = 1024, threads: Int = 1, minimumSeconds: Double = 0.3) -> GemmProbe {
        let saved = KernelThreads.count
        KernelThreads.count = max(threads, 1)
        defer { KernelThreads.count = saved }
        let a = UnsafeMutablePointer<UInt16>.allocate(capacity: size * size), b = UnsafeMutablePointer<UInt16>.allocate(capacity: size * size)
        defer { a.deallocate(); b.deallocate() }
        let c = Buffer<Float>(count: size * size)
        var random = Xoshiro256(seed: 42)
        for i in 0..<(size * size) { a[i] = bfloat16Bits(random.uniform(-1, 1)); b[i] = bfloat16Bits(random.uniform(-1, 1)) }
        let product = { bf16Gemm(m: size, n: size, k: size, a, b, c.pointer) }
        return GemmProbe(size: size, seconds: bestSeconds(minimumSeconds: minimumSeconds, product))
    }

    init(size: Int, seconds: Double) {
        self.size = size
        self.seconds = seconds
        gflops = 2 * Double(size) * Double(size) * Double(size) / seconds / 1e9
    }
}
