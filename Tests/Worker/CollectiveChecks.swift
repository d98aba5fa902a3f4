import Communication

/// Runs every collective with rank-dependent data and compares each result with the value
/// computed locally by simulating all ranks. All values are small integers, so sums are exact
/// in every element type and the comparison is exact equality.
struct CollectiveChecks {
    let communicator: Communicator
    private(set) var mismatches = 0

    init(_ communicator: Communicator) { self.communicator = communicator }

    var rank: Int { communicator.rank }
    var size: Int { communicator.size }

    /// Rank r's i-th input: differs between ranks at every index, stays below 41 so sums of a
    /// few ranks fit even in UInt8.
    static func value<T: Numeric>(_ r: Int, _ i: Int) -> T { T(exactly: (r * 13 + i * 7) % 40 + 1)! }

    /// `large` adds a 4 MiB all-reduce; skipped when MPI calls are split into 3-element pieces.
    mutating func runAll(large: Bool) throws {
        try checkType(Float.self)
        try checkType(Double.self)
        try checkType(Int64.self)
        try checkType(Int32.self)
        try checkType(UInt8.self)
        try checkConveniences()
        if large { try checkLargeAllReduce() }
        try communicator.barrier()
    }

    mutating func checkType<T: CommunicationElement & Numeric & Comparable>(_: T.Type) throws {
        let count = 7, block = 5
        let all = 0..<size

        var summed: [T] = (0..<count).map { Self.value(rank, $0) }
        try communicator.allReduceSum(&summed)
        expect(summed, (0..<count).map { i in all.reduce(T.zero) { $0 + Self.value($1, i) } }, "allReduceSum \(T.self)")

        var maxed: [T] = (0..<count).map { Self.value(rank, $0) }
        try communicator.allReduceMax(&maxed)
        expect(maxed, (0..<count).map { i in all.map { Self.value($0, i) as T }.max()! },
               "allReduceMax \(T.self)")

        let mine: [T] = (0..<block).map { Self.value(rank, $0) }
        var gathered = [T](repeating: .zero, count: size * block)
        try mine.withUnsafeBufferPointer { send in
            try gathered.withUnsafeMutableBufferPointer { try communicator.allGather(send: send, receive: $0) }
        }
        expect(gathered, all.flatMap { r in (0..<block).map { Self.value(r, $0) as T } }, "allGather \(T.self)")

        let contributions: [T] = (0..<size * block).map { Self.value(rank, $0) }
        var scattered = [T](repeating: .zero, count: block)
        try contributions.withUnsafeBufferPointer { send in
            try scattered.withUnsafeMutableBufferPointer { try communicator.reduceScatterSum(send: send, receive: $0) }
        }
        expect(scattered, (0..<block).map { i in all.reduce(T.zero) { $0 + Self.value($1, rank * block + i) } },
               "reduceScatterSum \(T.self)")

        let root = size - 1
        var broadcasted: [T] = (0..<count).map { Self.value(rank, $0) }
        try broadcasted.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: root) }
        expect(broadcasted, (0..<count).map { Self.value(root, $0) }, "broadcast \(T.self) from \(root)")
    }

    mutating func checkConveniences() throws {
        let root = 1 % size
        let text = rank == root ? "hello from rank \(root), ünïcödé ✓" : ""
        expect([try communicator.broadcast(text, root: root)], ["hello from rank \(root), ünïcödé ✓"], "broadcast String")
        expect(try communicator.broadcast(rank == 0 ? [] : [9, 9], root: 0), [], "broadcast empty [UInt8]")
        expect([try communicator.allReduceSum(Double(rank) + 0.5)], [Double(size * (size - 1)) / 2 + 0.5 * Double(size)],
               "allReduceSum scalar Double")
        expect([try communicator.allReduceMax(Double(rank) * 1.5)], [Double(size - 1) * 1.5], "allReduceMax scalar Double")
        expect([try communicator.anyRankFailed(rank == size - 1)], [true], "anyRankFailed with one failure")
        expect([try communicator.anyRankFailed(false)], [false], "anyRankFailed with none")
    }

    /// Large enough (4 MiB) that shared-memory transports switch to their large-message path,
    /// which is what fails in containers that forbid cross-process memory access.
    mutating func checkLargeAllReduce() throws {
        var ones = [Float](repeating: 1, count: 1 << 20)
        try communicator.allReduceSum(&ones)
        let wrong = ones.firstIndex { $0 != Float(size) }
        expect([wrong == nil], [true], "large allReduceSum (first wrong index \(wrong ?? -1))")
    }

    private mutating func expect<T: Equatable>(_ actual: [T], _ expected: [T], _ what: String) {
        guard actual != expected else { return }
        mismatches += 1
        printError("rank \(rank): MISMATCH in \(what) (size \(size)): got \(actual), expected \(expected)")
    }
}
