import Dispatch

/// `transform` applied to every item, `threads` items at a time; the results keep the input
/// order, so what an import writes does not depend on the thread count.
func parallelMap<Item: Sendable, Result>(_ items: [Item], threads: Int, _ transform: @Sendable (Item) -> Result) -> [Result] {
    var results = [Result?](repeating: nil, count: items.count)
    let workers = max(1, min(threads, items.count))
    results.withUnsafeMutableBufferPointer { buffer in
        let slots = ResultSlots(buffer)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: items.count, by: workers) {
                slots.buffer[index] = transform(items[index])
            }
        }
    }
    return results.map { $0! }
}

/// Each worker writes disjoint slots of a buffer that outlives `concurrentPerform`.
private struct ResultSlots<Result>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Result?>
    init(_ buffer: UnsafeMutableBufferPointer<Result?>) { self.buffer = buffer }
}
