import CDNNL
import Dispatch

/// c (m, n) fp32 = alpha * op(a) op(b) + beta * c; a and b hold bf16 bit patterns, row-major, with
/// the same transA/transB/leading-dimension conventions as `gemm` (Gemm.swift):
///   op(a) is (m, k): `a` is stored (m, k) when `transA` is false, (k, m) when true.
///   op(b) is (k, n): `b` is stored (k, n) when `transB` is false, (n, k) when true.
/// Products of two bf16 values are exact in fp32 and are accumulated in fp32, so the result
/// differs from a float64 product of the same bf16 inputs only by fp32 rounding of the sums.
/// `beta: 1` accumulates into `c` (gradients).
///
/// The product is oneDNN's matmul primitive (docs/performance.md, "bf16 GEMM library"). The
/// primitive for each shape is made once and cached (BFloat16GemmPlans), so a repeated call makes
/// no primitive, buffer or descriptor; what it still allocates is oneDNN's own per-execution
/// argument map (`bf16GemmLibraryAllocationsPerExecution` small blocks per oneDNN call).
/// Threads: Discern's own count (KernelThreads, which `threads` / OPENBLAS_NUM_THREADS set).
/// oneDNN itself always runs on one thread; larger products are split into column (or row)
/// blocks run on Discern's own workers, so no OpenMP team ever runs beside OpenBLAS's threads or
/// other MPI ranks. A bf16 model runs OpenBLAS single-threaded (`setThreads`): its idle workers
/// spin, and would take the cores these blocks run on.
/// Needs a CPU on which oneDNN has a bf16 matmul (AVX-512 at least); check
/// `BFloat16Hardware.native` before choosing bf16: only native bf16 is faster than fp32.
public func bf16Gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                     _ a: UnsafePointer<UInt16>, lda: Int? = nil, _ b: UnsafePointer<UInt16>, ldb: Int? = nil,
                     beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    precondition(m >= 0 && n >= 0 && k >= 0, "bf16Gemm: negative dimension (\(m), \(n), \(k))")
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
    precondition(lda >= max(transA ? m : k, 1) && ldb >= max(transB ? k : n, 1) && ldc >= n,
                 "bf16Gemm: leading dimension too small (lda \(lda), ldb \(ldb), ldc \(ldc) for m \(m), n \(n), k \(k))")
    if k == 0 {
        // An empty sum: c = beta * c, with beta 0 overwriting (NaN included), as `gemm` does.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    let shape = BFloat16GemmShape(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc,
                                  alpha: alpha, beta: beta, threads: KernelThreads.count)
    let plan = BFloat16GemmPlans.shared.checkOut(shape)
    plan.run(a, b, c)
    BFloat16GemmPlans.shared.checkIn(plan)
}

/// Most heap blocks oneDNN 2.6 allocates inside one dnnl_primitive_execute of bf16Gemm's matmul:
/// its std::unordered_map of the arguments (4 nodes and a bucket array), one more block of its
/// own, and one for the sum post-op when beta != 0. Nothing Discern can cache away (the map is
/// built inside the library's entry point); glibc serves the blocks from its per-thread cache. A
/// bf16Gemm call runs one execution per thread it uses.
public let bf16GemmLibraryAllocationsPerExecution = 7

/// The library behind bf16Gemm and its version, for logs and `discern doctor`.
public var bf16GemmLibrary: String {
    guard let version = dnnl_version()?.pointee else { return "oneDNN" }
    return "oneDNN \(version.major).\(version.minor).\(version.patch)"
}

/// Everything a cached primitive depends on: a call with another shape, leading dimension,
/// alpha, beta or thread count gets its own plan.
struct BFloat16GemmShape: Hashable {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let lda: Int, ldb: Int, ldc: Int
    let alphaBits: UInt32, betaBits: UInt32
    /// Blocks the product is split into, one per thread (1 for small products).
    let parts: Int

    var alpha: Float { Float(bitPattern: alphaBits) }
    var beta: Float { Float(bitPattern: betaBits) }

    init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, alpha: Float, beta: Float, threads: Int) {
        self.transA = transA; self.transB = transB
        self.m = m; self.n = n; self.k = k
        self.lda = lda; self.ldb = ldb; self.ldc = ldc
        alphaBits = alpha.bitPattern; betaBits = beta.bitPattern
        parts = Self.parts(m: m, n: n, k: k, threads: threads)
    }

    /// Below about 34 MFLOP (some 80 us on one thread at bf16 speed) waking another thread costs
    /// more than it saves: measured on the 2-core development machine, 21 and 56 MFLOP products
    /// ran slower split in two than on one thread.
    static let leastFlopsToSplit = 1 << 25
    /// oneDNN's bf16 kernels block the output in 64 columns (one cache line of fp32 is 16): column
    /// blocks are whole multiples of it so no block pays for a ragged edge but the last.
    static let columnBlock = 64
    /// Row blocks of a product too narrow to split by columns.
    static let rowBlock = 32

    static func parts(m: Int, n: Int, k: Int, threads: Int) -> Int {
        let threads = max(threads, 1)
        if threads == 1 || 2 * m * n * k < leastFlopsToSplit { return 1 }
        if n >= columnBlock * threads || m < rowBlock * threads { return min(threads, max(1, n / columnBlock)) }
        return threads
    }

    /// The part's rows and columns of c: the columns are split when there are enough of them
    /// (each thread then reads only its share of the weight b), else the rows.
    func block(_ part: Int) -> (rows: Range<Int>, columns: Range<Int>) {
        if parts == 1 { return (0..<m, 0..<n) }
        if n >= Self.columnBlock * parts {
            let width = (n + parts - 1) / parts
            let rounded = (width + Self.columnBlock - 1) / Self.columnBlock * Self.columnBlock
            return (0..<m, min(n, part * rounded)..<min(n, (part + 1) * rounded))
        }
        let height = (m + parts - 1) / parts
        return (min(m, part * height)..<min(m, (part + 1) * height), 0..<n)
    }
}
