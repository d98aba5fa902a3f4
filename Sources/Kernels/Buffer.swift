/// One owned, 64-byte-aligned allocation of `count` elements, zero-initialised.
///
/// Activations, parameters and gradients live in Buffers allocated once per step shape and
/// reused; hot loops only ever see the raw `pointer`.
public final class Buffer<T: KernelScalar>: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<T>

    public init(count: Int) {
        precondition(count >= 0, "Buffer: negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(count, 1) * MemoryLayout<T>.stride, alignment: 64)
        pointer = raw.bindMemory(to: T.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [T]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<T> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [T] { Array(buffer) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public subscript(i: Int) -> T {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
