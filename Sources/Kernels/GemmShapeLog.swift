import Dispatch

/// Records the shapes `gemm` is called with while a log is active, so a benchmark can measure
/// cblas_sgemm at exactly the products a training step runs ("the ceiling at the model's
/// shapes"). Inactive (nil) the cost is one load and branch per gemm call.
public final class GemmShapeLog: @unchecked Sendable {
    public struct Shape: Hashable, Sendable {
        public let transA: Bool, transB: Bool
        public let m: Int, n: Int, k: Int
        public let lda: Int, ldb: Int, ldc: Int
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

        @inlinable
        public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
            self.transA = transA; self.transB = transB
            self.m = m; self.n = n; self.k = k
            self.lda = lda; self.ldb = ldb; self.ldc = ldc
        }
    }

    /// The log `gemm` writes to; set it around the calls to record, from one thread.
    nonisolated(unsafe) public static var active: GemmShapeLog?

    public private(set) var counts: [Shape: Int] = [:]
    /// Kernels call `gemm` from `parallelFor` workers too (attention runs its per-head products
    /// on several threads), so recording is serialised; it only happens while a log is active.
    private let serial = DispatchQueue(label: "GemmShapeLog")
    public init() {}

    @usableFromInline
    func record(_ shape: Shape) { serial.sync { counts[shape, default: 0] += 1 } }

    /// One recorded product timed alone: how often the step calls it and its best time.
    public struct Timing: Sendable {
        public let shape: Shape
        public let count: Int
        public let seconds: Double
        public var gflops: Double { shape.flops / seconds / 1e9 }
        /// Thin products (a LoRA factor of rank r, say) run far below the CPU's ceiling and are
        /// not what it is about.
        public func isLarge(_ minimumSize: Int = 32) -> Bool { min(shape.m, shape.n, shape.k) >= minimumSize }
    }

    /// Runs every recorded product on fresh buffers (one warm-up, then repeats for at least
    /// `minimumSecondsPerShape`) and returns each one's best time, slowest total first.
    public func measureFloat(minimumSecondsPerShape: Double = 0.02) -> [Timing] {
        var timings: [Timing] = []
        for (shape, count) in counts {
            let rowsA = shape.transA ? shape.k : shape.m, rowsB = shape.transB ? shape.n : shape.k
            let a = Buffer<Float>(count: rowsA * shape.lda), b = Buffer<Float>(count: rowsB * shape.ldb)
            let c = Buffer<Float>(count: shape.m * shape.ldc)
            var random = Xoshiro256(seed: 7)
            for i in 0..<a.count { a[i] = random.uniform(-1, 1) }
            for i in 0..<b.count { b[i] = random.uniform(-1, 1) }
            let run = {
                gemm(transA: shape.transA, transB: shape.transB, m: shape.m, n: shape.n, k: shape.k,
                     a.pointer, lda: shape.lda, b.pointer, ldb: shape.ldb, c.pointer, ldc: shape.ldc)
            }
            timings.append(Timing(shape: shape, count: count, seconds: bestSeconds(minimumSeconds: minimumSecondsPerShape, run)))
        }
        return timings.sorted { Double($0.count) * $0.seconds > Double($1.count) * $1.seconds }
    }
}

/// Runs `body` once to warm up, then repeats it (at least `minimumRepetitions` times and
/// `minimumSeconds` in all) and returns the best time: the one least disturbed by a neighbour.
public func bestSeconds(minimumSeconds: Double, minimumRepetitions: Int = 3, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity, total = 0.0, repetitions = 0
    repeat {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = min(best, elapsed)
        total += elapsed
        repetitions += 1
    } while total < minimumSeconds || repetitions < minimumRepetitions
    return best
}
