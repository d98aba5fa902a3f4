import Kernels

/// A buffer that keeps its allocation between steps and only reallocates when a larger shape
/// arrives, so a training loop allocates during its first step and never again.
public final class GrowableBuffer<T: KernelScalar>: @unchecked Sendable {
    private var storage: Buffer<T>

    public init() { storage = Buffer(count: 0) }

    /// At least `count` elements; contents are unspecified after a reallocation.
    @inlinable
    public func reserve(_ count: Int) -> UnsafeMutablePointer<T> {
        if count > capacity { grow(count) }
        return pointer
    }

    /// `reserve` and then zero the first `count` elements (for buffers that gradients add into).
    public func reserveZeroed(_ count: Int) -> UnsafeMutablePointer<T> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }

    public var pointer: UnsafeMutablePointer<T> { storage.pointer }
    public var capacity: Int { storage.count }

    @usableFromInline func grow(_ count: Int) { storage = Buffer(count: count) }
}

/// Same for the integer side data (masks, ids, positions).
public final class GrowableArray<Element: BinaryInteger>: @unchecked Sendable {
    public private(set) var pointer: UnsafeMutablePointer<Element>
    public private(set) var capacity: Int

    public init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
        pointer.initialize(to: 0)
    }

    deinit { pointer.deallocate() }

    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            pointer = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            capacity = count
        }
        return pointer
    }
}
