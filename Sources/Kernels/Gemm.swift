import CBLAS

/// Row-major matrix product, the one road to BLAS for every matmul in Discern.
///
///   c (m, n) = alpha * op(a) * op(b) + beta * c
///   op(a) is (m, k): `a` is stored (m, k) when `transA` is false, (k, m) when true.
///   op(b) is (k, n): `b` is stored (k, n) when `transB` is false, (n, k) when true.
///
/// Leading dimensions default to packed rows; pass them to address a strided view
/// (one attention head inside a [tokens, heads * headDim] activation, say).
/// `beta: 1` accumulates into `c`, which is how every parameter gradient is summed.
@inlinable
public func gemm<T: KernelScalar>(
    transA: Bool = false, transB: Bool = false,
    m: Int, n: Int, k: Int,
    alpha: T = 1,
    _ a: UnsafePointer<T>, lda: Int? = nil,
    _ b: UnsafePointer<T>, ldb: Int? = nil,
    beta: T = 0,
    _ c: UnsafeMutablePointer<T>, ldc: Int? = nil
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension (\(m), \(n), \(k))")
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    if k == 0 {
        // BLAS leaves C untouched for k = 0 only when beta is 1; make every beta well defined.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    T.blasGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
               a: a, lda: max(lda, 1), b: b, ldb: max(ldb, 1), beta: beta, c: c, ldc: max(ldc, 1))
}

/// Threads OpenBLAS uses from now on (OPENBLAS_NUM_THREADS sets the starting value); bf16Gemm
/// follows the same count.
public func setBLASThreads(_ count: Int) {
    openblas_set_num_threads(Int32(max(count, 1)))
}

/// Threads OpenBLAS uses now (and bf16Gemm with it).
public var blasThreads: Int { Int(openblas_get_num_threads()) }
