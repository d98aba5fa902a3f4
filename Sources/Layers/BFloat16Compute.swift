import Kernels

/// The precision of the products with frozen weights (docs/performance.md, bf16 compute).
///   fp32: every GEMM in fp32; 16-bit weights are widened per use.
///   bf16: every product with a frozen weight (Linear forward and its input gradient) is a
///     bf16 x bf16 GEMM with fp32 accumulation and fp32 output, the weight held as bf16 and the
///     activation narrowed to bf16 for that one GEMM. Adapters, norms, softmax, losses,
///     gradients and the optimizer stay fp32.
public enum ComputePrecision: String, Sendable, CaseIterable {
    case fp32, bf16
}

/// bf16 values a model owns: frozen weights converted once at load (from F16 or F32 files, or
/// from BF16 ones whose file offset is not 2-byte aligned), kept alive by the HalfMatrix that
/// points into them.
public final class OwnedBFloat16Storage: @unchecked Sendable {  // written once, then read-only
    public let pointer: UnsafeMutablePointer<UInt16>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "OwnedBFloat16Storage: negative count \(count)")
        self.count = count
        // 64-byte alignment: the bf16 GEMM reads whole cache lines of weight rows.
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(2 * count, 2), alignment: 64)
            .bindMemory(to: UInt16.self, capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// A (rows, columns) matrix over this storage.
    public func matrix(rows: Int, columns: Int) -> HalfMatrix {
        precondition(rows * columns == count, "OwnedBFloat16Storage: \(count) values for (\(rows), \(columns))")
        return HalfMatrix(bytes: UnsafeRawPointer(pointer), format: .bfloat16, rows: rows, columns: columns, owner: self)
    }
}

/// The one bf16 buffer every activation is narrowed into before a bf16 GEMM: x for a Linear's
/// forward, dy for its input gradient. Like WidenedWeightScratch it is only needed for the one
/// GEMM that reads it, so one buffer per model suffices; it grows to the largest operand in the
/// first step and never reallocates after.
public final class BFloat16OperandScratch: @unchecked Sendable {
    let buffer = GrowableArray<UInt16>()
    init() {}

    /// `values` (count floats) rounded to bf16 (nearest even) in the buffer.
    func narrowed(_ values: UnsafePointer<Float>, count: Int) -> UnsafePointer<UInt16> {
        let bits = buffer.reserve(count)
        narrowToBFloat16InParallel(values, bits, count: count)
        return UnsafePointer(bits)
    }
}

extension HalfMatrix {
    /// The matrix's bf16 values as a typed pointer, when they are bf16 and 2-byte aligned (what
    /// the bf16 GEMM reads in place).
    public var alignedBFloat16: UnsafePointer<UInt16>? {
        guard format == .bfloat16, Int(bitPattern: bytes) % MemoryLayout<UInt16>.alignment == 0 else { return nil }
        return bytes.assumingMemoryBound(to: UInt16.self)
    }
}
