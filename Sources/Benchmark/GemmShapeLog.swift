import CBLASObserver
import Dispatch
import Kernels

/// Records the shapes of the cblas_sgemm calls made while it records, so the benchmark can time
/// cblas_sgemm alone at exactly the products a training step runs ("the ceiling at the model's
/// shapes"). It observes BLAS from outside (CBLASObserver): the numeric code has no hook.
package final class GemmShapeLog: @unchecked Sendable {
    package struct Shape: Hashable, Sendable {
        package let transA: Bool, transB: Bool
        package let m: Int, n: Int, k: Int
        package let lda: Int, ldb: Int, ldc: Int
        package var flops: Double { 2 * Double(m) * Double(n) * Double(k) }

        package init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int) {
            self.transA = transA; self.transB = transB
            self.m = m; self.n = n; self.k = k
            self.lda = lda; self.ldb = ldb; self.ldc = ldc
        }
    }

    /// The log being written (a C observer cannot carry a context); set only by `record(_:)`.
    nonisolated(unsafe) static var recording: GemmShapeLog?

    /// False where cblas_sgemm cannot be observed (not glibc): nothing is recorded there.
    package static var isAvailable: Bool { discern_sgemm_observing_available() != 0 }

    package private(set) var counts: [Shape: Int] = [:]
    /// Kernels call `gemm` from `parallelFor` workers too (attention runs its per-head products
    /// on several threads), so recording is serialised; it only happens while a log is active.
    private let serial = DispatchQueue(label: "GemmShapeLog")
    package init() {}

    /// Runs `body` with every sgemm it makes (on any thread) recorded here. Not reentrant: one
    /// log records at a time.
    package func record<Result>(_ body: () throws -> Result) rethrows -> Result {
        precondition(Self.recording == nil, "GemmShapeLog: another log is already recording")
        Self.recording = self
        discern_set_sgemm_observer { _, transA, transB, m, n, k, lda, ldb, ldc in
            GemmShapeLog.recording?.add(Shape(transA: transA != 0, transB: transB != 0, m: Int(m), n: Int(n), k: Int(k),
                                              lda: Int(lda), ldb: Int(ldb), ldc: Int(ldc)))
        }
        defer {
            discern_set_sgemm_observer(nil)
            Self.recording = nil
        }
        return try body()
    }

    func add(_ shape: Shape) { serial.sync { counts[shape, default: 0] += 1 } }

    /// One recorded product timed alone: how often the step calls it and its best time.
    package struct Timing: Sendable {
        package let shape: Shape
        package let count: Int
        package let seconds: Double
        package var gflops: Double { shape.flops / seconds / 1e9 }
        /// Thin products (a LoRA factor of rank r, say) run far below the CPU's ceiling and are
        /// not what it is about.
        package func isLarge(_ minimumSize: Int = 32) -> Bool { min(shape.m, shape.n, shape.k) >= minimumSize }
    }

    /// Runs every recorded product on fresh buffers (one warm-up, then repeats for at least
    /// `minimumSecondsPerShape`) and returns each one's best time, slowest total first.
    package func measureFloat(minimumSecondsPerShape: Double = 0.02) -> [Timing] {
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
