import Kernels

/// A frozen 2-D weight that stays in 16-bit storage someone else owns (a memory-mapped weight
/// file): no T copy exists; users widen it per use (`Parameter.readable()`), rows on demand
/// (`Parameter.copyRow`). Widening is exact, so results equal those of a model that widened
/// the same file up front. Model code sees only this pointer + format, never a file format.
public struct HalfMatrix: @unchecked Sendable {  // immutable; the bytes are read-only
    /// rows * columns 16-bit values, row-major, any alignment.
    public let bytes: UnsafeRawPointer
    public let format: HalfFormat
    public let rows: Int
    public let columns: Int
    /// Keeps `bytes` valid (e.g. the mapped file) for as long as this matrix, hence the model, lives.
    public let owner: AnyObject

    public init(bytes: UnsafeRawPointer, format: HalfFormat, rows: Int, columns: Int, owner: AnyObject) {
        precondition(rows >= 0 && columns >= 0, "HalfMatrix: negative shape (\(rows), \(columns))")
        self.bytes = bytes
        self.format = format
        self.rows = rows
        self.columns = columns
        self.owner = owner
    }

    public var count: Int { rows * columns }
    /// Bytes of 16-bit storage.
    public var byteCount: Int { 2 * count }
}

/// The one T buffer every 16-bit weight of a model is widened into, sized for the largest.
///
/// One buffer is enough because a weight's widened values are only needed for the duration
/// of the single GEMM that reads them (Linear forward, or the dx GEMM of its backward): the
/// model runs one layer, one projection at a time. It also means the model is single-threaded
/// at this level: two forwards of one model must not run concurrently (kernels parallelise
/// inside, which is fine). The buffer remembers which weight it holds, so back-to-back uses of
/// one weight (the output head's forward and backward) widen it once: frozen values never change.
public final class WidenedWeightScratch<T: KernelScalar>: @unchecked Sendable {
    /// Allocated on the first widening: a bf16-compute model never widens a whole weight, and at
    /// 7B the buffer would be half a gigabyte.
    private var buffer: Buffer<T>?
    private var holder: ObjectIdentifier?

    init(capacity: Int) { self.capacity = capacity }

    public let capacity: Int

    /// `matrix` widened into the buffer (or already there when `parameter` was the last one widened).
    func widened(_ matrix: HalfMatrix, for parameter: AnyObject) -> UnsafePointer<T> {
        precondition(matrix.count <= capacity, "WidenedWeightScratch: \(matrix.count) values, room for \(capacity)")
        let buffer = self.buffer ?? Buffer<T>(count: capacity)
        self.buffer = buffer
        let identity = ObjectIdentifier(parameter)
        if holder != identity {
            holder = nil   // a widening interrupted half-way must not count as done
            widenHalf(matrix.bytes, format: matrix.format, into: buffer.pointer, count: matrix.count)
            holder = identity
        }
        return UnsafePointer(buffer.pointer)
    }
}
