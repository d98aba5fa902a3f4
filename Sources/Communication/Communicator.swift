import Foundation

/// The collective operations the trainer needs, over every process of one job ("ranks").
///
/// Every rank must call the same collectives in the same order with the same element counts;
/// a rank that skips one leaves the others waiting forever (see `runOrAbort(on:_:)`).
/// Buffers are raw views so gradient and parameter storage moves without copies; a count
/// that does not match the contract is a programmer error and stops with a precondition.
package protocol Communicator: AnyObject, Sendable {
    /// This process's index in the job, `0..<size`.
    var rank: Int { get }
    /// The number of processes in the job.
    var size: Int { get }

    /// Replaces every element with its sum over all ranks.
    func allReduceSum<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws
    /// Replaces every element with its maximum over all ranks.
    func allReduceMax<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws
    /// Concatenates every rank's `send` block in rank order: `receive.count == size * send.count`,
    /// and rank r's block lands at `receive[r * send.count ..< (r + 1) * send.count]`.
    func allGather<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>) throws
    /// The sum over ranks, scattered in blocks: `send.count == size * receive.count`, and rank r
    /// receives the element-wise sum of every rank's block r, `send[r * block ..< (r + 1) * block]`.
    func reduceScatterSum<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>) throws
    /// Copies `root`'s buffer into every other rank's buffer of the same count.
    func broadcast<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws
    /// Returns once every rank has called it.
    func barrier() throws
    /// Ends communication; call once on every rank before a normal exit.
    func finalize() throws
    /// Prints "rank R: message" to standard error and ends the WHOLE job with `code`.
    func abort(code: Int32, message: String) -> Never
}

/// A failed collective, with the operation, the rank and the library's own explanation.
package struct CommunicationError: Error, CustomStringConvertible, Sendable {
    /// The call that failed, such as "MPI_Allreduce".
    package let operation: String
    /// The failing rank, nil when the failure came before ranks were known (initialisation).
    package let rank: Int?
    /// The MPI error code, nil for failures detected by this module itself.
    package let code: Int32?
    /// The full sentence, fit for a log.
    package let message: String

    package init(operation: String, rank: Int?, code: Int32?, message: String) {
        self.operation = operation
        self.rank = rank
        self.code = code
        self.message = message
    }

    package var description: String { message }
}

// MARK: - Conveniences every communicator gets

extension Communicator {
    package func allReduceSum<T: CommunicationElement>(_ array: inout [T]) throws {
        try array.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }

    package func allReduceMax<T: CommunicationElement>(_ array: inout [T]) throws {
        try array.withUnsafeMutableBufferPointer { try allReduceMax($0) }
    }

    /// The sum of one value over all ranks (a loss, a token count).
    package func allReduceSum<T: CommunicationElement>(_ value: T) throws -> T {
        var result = value   // on the stack: a training step calls this and must not allocate
        try withUnsafeMutablePointer(to: &result) { try allReduceSum(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return result
    }

    /// The maximum of one value over all ranks (the slowest rank's step time).
    package func allReduceMax<T: CommunicationElement>(_ value: T) throws -> T {
        var result = value
        try withUnsafeMutablePointer(to: &result) { try allReduceMax(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return result
    }

    /// True on every rank when at least one rank passed true. Lets all ranks agree to stop
    /// together after a recoverable error instead of one rank leaving a collective unmatched.
    package func anyRankFailed(_ failedHere: Bool) throws -> Bool {
        try allReduceMax(failedHere ? 1.0 : 0.0) > 0.5
    }

    /// Sends `root`'s bytes to every rank; other ranks' argument is ignored (pass `[]`).
    /// The length goes first, so receivers need not know it.
    package func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        precondition((0..<size).contains(root), "broadcast: root \(root) is not a rank of \(size)")
        var length = [Int64(rank == root ? bytes.count : 0)]
        try length.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        var result = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length[0]))
        try result.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
        return result
    }

    /// Sends `root`'s string (a config file, a run name) to every rank; others pass "".
    package func broadcast(_ string: String, root: Int) throws -> String {
        let bytes = try broadcast(Array(string.utf8), root: root)
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - Contract checks shared by the implementations

func checkAllGatherCounts(send: Int, receive: Int, size: Int) {
    precondition(receive == send * size,
                 "allGather: receive has \(receive) elements, expected size (\(size)) * send (\(send))")
}

func checkReduceScatterCounts(send: Int, receive: Int, size: Int) {
    precondition(send == receive * size,
                 "reduceScatterSum: send has \(send) elements, expected size (\(size)) * receive (\(receive))")
}

/// MPI forbids aliased send and receive buffers (in-place needs MPI_IN_PLACE); both
/// implementations refuse them so a bug shows up in single-process runs too.
func checkDisjoint<T>(_ send: UnsafeBufferPointer<T>, _ receive: UnsafeMutableBufferPointer<T>,
                      _ operation: String) {
    guard let a = send.baseAddress, let b = receive.baseAddress, !send.isEmpty, !receive.isEmpty
    else { return }
    let aEnd = a + send.count, bEnd = UnsafePointer(b) + receive.count
    precondition(aEnd <= UnsafePointer(b) || bEnd <= a, "\(operation): send and receive buffers overlap")
}
