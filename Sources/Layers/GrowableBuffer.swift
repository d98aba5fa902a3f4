import Kernels

/// A buffer that keeps its allocation between steps and only reallocates when a larger shape
/// arrives, so a training loop allocates during its first step and never again.
package final class GrowableBuffer<T: KernelScalar>: @unchecked Sendable {
    private var storage: Buffer<T>

    package init() { storage = Buffer(count: 0) }

    /// At least `count` elements; contents are unspecified after a reallocation.
    @inlinable
    package func reserve(_ count: Int) -> UnsafeMutablePointer<T> {
        if count > capacity { grow(count) }
        return pointer
    }

    /// `reserve` and then zero the first `count` elements (for buffers that gradients add into).
    package func reserveZeroed(_ count: Int) -> UnsafeMutablePointer<T> {
        let p = reserve(count)
        p.update(repeating: 0, count: count)
        return p
    }

    package var pointer: UnsafeMutablePointer<T> { storage.pointer }
    package var capacity: Int { storage.count }

    @usableFromInline func grow(_ count: Int) { storage = Buffer(count: count) }
}

/// Same for the integer side data (masks, ids, positions).
package final class GrowableArray<Element: BinaryInteger>: @unchecked Sendable {
    package private(set) var pointer: UnsafeMutablePointer<Element>
    package private(set) var capacity: Int

    package init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Element>.allocate(capacity: 1)
        pointer.initialize(to: 0)
    }

    deinit { pointer.deallocate() }

    package func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            pointer = UnsafeMutablePointer<Element>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            capacity = count
        }
        return pointer
    }
}
