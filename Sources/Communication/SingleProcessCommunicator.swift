import Foundation

/// The job of one process: rank 0 of 1. Every collective is the identity (or a copy), so
/// every command runs without mpirun and single-process results equal a 1-rank MPI job.
package final class SingleProcessCommunicator: Communicator {
    package let rank = 0
    package let size = 1

    package init() {}

    package func allReduceSum<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}

    package func allReduceMax<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {}

    package func allGather<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>
    ) throws {
        checkAllGatherCounts(send: send.count, receive: receive.count, size: size)
        checkDisjoint(send, receive, "allGather")
        _ = receive.initialize(from: send)
    }

    package func reduceScatterSum<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>
    ) throws {
        checkReduceScatterCounts(send: send.count, receive: receive.count, size: size)
        checkDisjoint(send, receive, "reduceScatterSum")
        _ = receive.initialize(from: send)
    }

    package func broadcast<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        precondition(root == 0, "broadcast: root \(root) is not a rank of 1")
    }

    package func barrier() throws {}

    package func finalize() throws {}

    package func abort(code: Int32, message: String) -> Never {
        writeToStandardError("rank \(rank): \(message)\n")
        exit(code)
    }
}

/// Writes straight to file descriptor 2 after flushing stdout, so nothing printed before an
/// abort is lost and the message is not held in a buffer the abort throws away.
func writeToStandardError(_ text: String) {
    fflush(nil)
    FileHandle.standardError.write(Data(text.utf8))
}
