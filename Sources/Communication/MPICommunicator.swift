import CMPI
import Foundation

/// All ranks of an mpirun (or srun) job, over MPI_COMM_WORLD.
///
/// Threading: MPI is initialised at MPI_THREAD_FUNNELED, so only the thread that created the
/// first communicator (the main thread) may call collectives; compute threads (OpenBLAS,
/// `parallelFor`) never touch MPI. A call from another thread stops with a precondition.
///
/// Errors: MPI_COMM_WORLD is switched to MPI_ERRORS_RETURN, so a failing call returns a code
/// instead of killing the job silently; every code is checked and thrown as a
/// `CommunicationError` naming the call, the rank and MPI's explanation. (Failures inside
/// MPI_Init_thread itself still use the default handler, which aborts with MPI's own message.)
package final class MPICommunicator: Communicator {
    package let rank: Int
    package let size: Int
    /// The most elements one MPI call moves. MPI counts are 32-bit `int`, so larger buffers
    /// (a 7B-parameter gradient) go in pieces; a small value exercises that path in tests.
    package let maxElementsPerCall: Int

    /// Joins the job, initialising MPI unless something already did.
    package init(maxElementsPerCall: Int = Int(Int32.max)) throws {
        precondition((1...Int(Int32.max)).contains(maxElementsPerCall),
                     "maxElementsPerCall must be in 1...Int32.max, got \(maxElementsPerCall)")
        self.maxElementsPerCall = maxElementsPerCall
        var flag: Int32 = 0
        try mpiCheck(MPI_Finalized(&flag), "MPI_Finalized", rank: nil, size: nil)
        if flag != 0 {
            throw CommunicationError(
                operation: "MPI_Init_thread", rank: nil, code: nil,
                message: "MPI_Init_thread: MPI was already finalized in this process and cannot start "
                    + "again; create the communicator once and finalize it only at exit")
        }
        try mpiCheck(MPI_Initialized(&flag), "MPI_Initialized", rank: nil, size: nil)
        if flag == 0 {
            var provided: Int32 = 0
            let required = discern_mpi_thread_funneled()
            try mpiCheck(MPI_Init_thread(nil, nil, required, &provided), "MPI_Init_thread", rank: nil, size: nil)
            if provided < required {
                throw CommunicationError(
                    operation: "MPI_Init_thread", rank: nil, code: nil,
                    message: "MPI_Init_thread: the MPI library offers thread level \(provided), below "
                        + "MPI_THREAD_FUNNELED (\(required)); use an MPI built with thread support")
            }
        }
        let world = discern_mpi_comm_world()
        try mpiCheck(MPI_Comm_set_errhandler(world, discern_mpi_errors_return()),
                     "MPI_Comm_set_errhandler", rank: nil, size: nil)
        var value: Int32 = 0
        try mpiCheck(MPI_Comm_rank(world, &value), "MPI_Comm_rank", rank: nil, size: nil)
        rank = Int(value)
        try mpiCheck(MPI_Comm_size(world, &value), "MPI_Comm_size", rank: rank, size: nil)
        size = Int(value)
    }

    /// The MPI library's own version line, for `discern doctor`. Needs no initialisation.
    package static var libraryVersion: String {
        get throws {
            var text = [CChar](repeating: 0, count: Int(discern_mpi_max_library_version_string()) + 1)
            var length: Int32 = 0
            try mpiCheck(MPI_Get_library_version(&text, &length), "MPI_Get_library_version", rank: nil, size: nil)
            return cString(text, length: length).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    // MARK: Collectives

    package func allReduceSum<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try allReduce(buffer, discern_mpi_sum())
    }

    package func allReduceMax<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>) throws {
        try allReduce(buffer, discern_mpi_max())
    }

    private func allReduce<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: MPI_Op) throws {
        try checkCallingThread("MPI_Allreduce")
        CollectiveProgress.shared.enter(.allReduce)
        defer { CollectiveProgress.shared.leave() }
        for piece in pieces(buffer.count, maxElementsPerCall) {
            try check(MPI_Allreduce(discern_mpi_in_place(), buffer.baseAddress! + piece.lowerBound,
                                    Int32(piece.count), T.mpiDatatype, op, discern_mpi_comm_world()),
                      "MPI_Allreduce")
        }
    }

    package func allGather<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>
    ) throws {
        checkAllGatherCounts(send: send.count, receive: receive.count, size: size)
        checkDisjoint(send, receive, "allGather")
        try checkCallingThread("MPI_Allgather")
        CollectiveProgress.shared.enter(.allGather)
        defer { CollectiveProgress.shared.leave() }
        let block = send.count
        guard block > 0 else { return }
        if receive.count <= maxElementsPerCall {
            try check(MPI_Allgather(send.baseAddress, Int32(block), T.mpiDatatype, receive.baseAddress,
                                    Int32(block), T.mpiDatatype, discern_mpi_comm_world()), "MPI_Allgather")
            return
        }
        // Too large for one call: gather the same slice of every block into a staging buffer,
        // then spread the slices to their places (rank r's slice belongs at r * block + offset).
        let staging = UnsafeMutablePointer<T>.allocate(capacity: min(receive.count, pieceLength))
        defer { staging.deallocate() }
        for piece in pieces(block, pieceLength) {
            let n = piece.count
            try check(MPI_Allgather(send.baseAddress! + piece.lowerBound, Int32(n), T.mpiDatatype, staging,
                                    Int32(n), T.mpiDatatype, discern_mpi_comm_world()), "MPI_Allgather")
            for r in 0..<size {
                (receive.baseAddress! + r * block + piece.lowerBound).update(from: staging + r * n, count: n)
            }
        }
    }

    package func reduceScatterSum<T: CommunicationElement>(
        send: UnsafeBufferPointer<T>, receive: UnsafeMutableBufferPointer<T>
    ) throws {
        checkReduceScatterCounts(send: send.count, receive: receive.count, size: size)
        checkDisjoint(send, receive, "reduceScatterSum")
        try checkCallingThread("MPI_Reduce_scatter_block")
        CollectiveProgress.shared.enter(.reduceScatter)
        defer { CollectiveProgress.shared.leave() }
        let block = receive.count
        guard block > 0 else { return }
        if send.count <= maxElementsPerCall {
            try check(MPI_Reduce_scatter_block(send.baseAddress, receive.baseAddress, Int32(block), T.mpiDatatype,
                                               discern_mpi_sum(), discern_mpi_comm_world()),
                      "MPI_Reduce_scatter_block")
            return
        }
        // Too large for one call: pack the same slice of every block side by side, so one
        // reduce-scatter of the packed buffer sums slice `piece` of this rank's block.
        let staging = UnsafeMutablePointer<T>.allocate(capacity: min(send.count, pieceLength))
        defer { staging.deallocate() }
        for piece in pieces(block, pieceLength) {
            let n = piece.count
            for r in 0..<size {
                (staging + r * n).update(from: send.baseAddress! + r * block + piece.lowerBound, count: n)
            }
            try check(MPI_Reduce_scatter_block(staging, receive.baseAddress! + piece.lowerBound, Int32(n),
                                               T.mpiDatatype, discern_mpi_sum(), discern_mpi_comm_world()),
                      "MPI_Reduce_scatter_block")
        }
    }

    package func broadcast<T: CommunicationElement>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        precondition((0..<size).contains(root), "broadcast: root \(root) is not a rank of \(size)")
        try checkCallingThread("MPI_Bcast")
        CollectiveProgress.shared.enter(.broadcast)
        defer { CollectiveProgress.shared.leave() }
        for piece in pieces(buffer.count, maxElementsPerCall) {
            try check(MPI_Bcast(buffer.baseAddress! + piece.lowerBound, Int32(piece.count), T.mpiDatatype,
                                Int32(root), discern_mpi_comm_world()), "MPI_Bcast")
        }
    }

    package func barrier() throws {
        try checkCallingThread("MPI_Barrier")
        CollectiveProgress.shared.enter(.barrier)
        defer { CollectiveProgress.shared.leave() }
        try check(MPI_Barrier(discern_mpi_comm_world()), "MPI_Barrier")
    }

    /// Finalizes MPI once; later calls do nothing. No collective may follow.
    package func finalize() throws {
        var flag: Int32 = 0
        try check(MPI_Finalized(&flag), "MPI_Finalized")
        guard flag == 0 else { return }
        CollectiveProgress.shared.enter(.finalize)   // it synchronises with the other ranks
        defer { CollectiveProgress.shared.leave() }
        try check(MPI_Finalize(), "MPI_Finalize")
    }

    package func abort(code: Int32, message: String) -> Never {
        writeToStandardError("rank \(rank): \(message)\n")
        var initialized: Int32 = 0, finalized: Int32 = 0
        _ = MPI_Initialized(&initialized)   // a failure here changes nothing: we exit either way
        _ = MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 {
            _ = MPI_Abort(discern_mpi_comm_world(), code)   // kills every rank; returns only if broken
        }
        exit(code)
    }

    // MARK: Helpers

    /// Elements per slice when a gather or scatter must be split: `size` slices share one call.
    private var pieceLength: Int { max(1, maxElementsPerCall / size) }

    private func check(_ code: Int32, _ operation: String) throws {
        try mpiCheck(code, operation, rank: rank, size: size)
    }

    /// FUNNELED allows MPI calls only from the thread that initialised MPI.
    private func checkCallingThread(_ operation: String) throws {
        var isMain: Int32 = 0
        try check(MPI_Is_thread_main(&isMain), "MPI_Is_thread_main")
        precondition(isMain != 0, "\(operation) called off the main thread; MPI runs at MPI_THREAD_FUNNELED")
    }
}

/// Consecutive ranges of at most `limit` elements covering `0..<count`.
private func pieces(_ count: Int, _ limit: Int) -> [Range<Int>] {
    stride(from: 0, to: count, by: limit).map { $0..<min($0 + limit, count) }
}

private func mpiCheck(_ code: Int32, _ operation: String, rank: Int?, size: Int?) throws {
    guard code != discern_mpi_success() else { return }
    let who = rank.map { "rank \($0)" + (size.map { " of \($0)" } ?? "") } ?? "rank ?"
    throw CommunicationError(operation: operation, rank: rank, code: code,
                             message: "\(operation) failed on \(who): \(mpiErrorText(code)) (MPI error \(code))")
}

private func mpiErrorText(_ code: Int32) -> String {
    var text = [CChar](repeating: 0, count: Int(discern_mpi_max_error_string()) + 1)
    var length: Int32 = 0
    guard MPI_Error_string(code, &text, &length) == discern_mpi_success() else { return "unknown MPI error" }
    return cString(text, length: length)
}

private func cString(_ text: [CChar], length: Int32) -> String {
    let bytes = text.prefix(Int(length)).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

extension CommunicationElement {
    fileprivate static var mpiDatatype: MPI_Datatype {
        precondition(MemoryLayout<Self>.size == communicationDatatype.byteCount,
                     "\(Self.self) is \(MemoryLayout<Self>.size) bytes but claims \(communicationDatatype)")
        switch communicationDatatype {
        case .float32: return discern_mpi_float()
        case .float64: return discern_mpi_double()
        case .int32: return discern_mpi_int32()
        case .int64: return discern_mpi_int64()
        case .uint8: return discern_mpi_uint8()
        }
    }
}
