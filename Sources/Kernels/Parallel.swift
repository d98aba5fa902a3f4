import Dispatch

/// Worker threads used by the non-GEMM kernels. 1 by default: under MPI every rank owns one
/// core, and BLAS threads are set separately through OPENBLAS_NUM_THREADS.
public enum KernelThreads {
    nonisolated(unsafe) public static var count: Int = 1
}

/// `count` threads for a rank's numeric work. fp32: OpenBLAS gets them too. bf16 compute: the big
/// products are bf16 GEMMs split over Discern's own workers (bf16Gemm), and OpenBLAS, left with
/// the small fp32 products (attention, LoRA factors), runs on one thread: its idle workers
/// busy-wait after each call, and on a 2-core machine one spinning on the second core made the
/// bf16 step at 2 threads slower than at 1 (bench-small: 0.46 against 0.25 s/step; 0.21 with
/// OpenBLAS on one thread, docs/performance.md).
public func setThreads(_ count: Int, bfloat16Compute: Bool) {
    KernelThreads.count = max(count, 1)
    setBLASThreads(bfloat16Compute ? 1 : count)
}

/// A raw pointer that may cross into the worker closures of `parallelFor`. Each worker must
/// write a disjoint range; that is the caller's contract, not something the type checks.
public struct SharedPointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    @inlinable public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
    @inlinable public init(_ pointer: UnsafePointer<T>) { self.pointer = UnsafeMutablePointer(mutating: pointer) }
}

/// Runs `body(range)` over `0..<count` split into contiguous chunks, one per worker thread.
/// Runs inline (no thread hop, no allocation) when one thread is configured or the work is
/// small: `grain` is the least number of items worth a thread.
@inlinable
public func parallelFor(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    let threads = min(KernelThreads.count, max(1, count / max(grain, 1)))
    if threads <= 1 || count <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunk = (count + threads - 1) / threads
    withoutActuallyEscaping(body) { body in
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lower = t * chunk
            let upper = min(count, lower + chunk)
            if lower < upper { task.value(lower..<upper) }
        }
    }
}

/// Carries the loop body into `concurrentPerform`'s @Sendable closure. The body only touches
/// disjoint ranges of caller-owned memory, and `parallelFor` returns after every worker is done.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @inlinable init(_ value: Value) { self.value = value }
}
