import Foundation

/// Environment variables that a process manager sets in every rank it starts:
/// Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), MPICH/Intel MPI Hydra and `srun --mpi=pmi2`
/// (PMI_SIZE, PMI_RANK), and PMIx launchers such as `srun --mpi=pmix` or Open MPI 5 (PMIX_RANK).
package let mpiLauncherVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK"]

/// True when this process was started as a rank by an MPI launcher.
package func launchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
    mpiLauncherVariables.contains { environment[$0] != nil }
}

/// The communicator for this process: MPI when started by an MPI launcher, otherwise the
/// single-process one.
///
/// Why not always MPI: Open MPI does support MPI_Init outside mpirun (a "singleton"), but it
/// then forks a helper daemon (orted) first: measured here, a worker run took 1.0 s instead of
/// 0.1 s, and on machines with network fabrics the library probes them and may print warnings.
/// A plain `discern embed ...` should pay none of that, and a 1-rank job needs no
/// communication at all, so the launcher's environment decides.
package func makeCommunicator(
    environment: [String: String] = ProcessInfo.processInfo.environment
) throws -> Communicator {
    launchedByMPI(environment: environment) ? try MPICommunicator() : SingleProcessCommunicator()
}

/// Runs `body`; if it throws on this rank, prints "rank R failed: reason" and aborts the
/// whole job, so the other ranks do not wait forever in a collective this rank will never
/// join. Wrap everything between creating the communicator and finalizing it:
///
///     let communicator = try makeCommunicator()
///     runOrAbort(on: communicator) {
///         try train(communicator)
///         try communicator.finalize()
///     }
///
/// Errors that every rank detects together (a bad config read by all) may instead be thrown
/// normally; errors seen by some ranks only should go through `anyRankFailed` or this.
/// A `JobWideError` (thrown by every rank at the same point) ends the job without MPI_Abort:
/// rank 0 prints it once, every rank finalizes and exits with `exitCode`.
package func runOrAbort<Result>(on communicator: Communicator, exitCode: Int32 = 1,
                               _ body: () throws -> Result) -> Result {
    do {
        return try body()
    } catch let error as JobWideError {
        if communicator.rank == 0 { writeToStandardError("error: \(error)\n") }
        try? communicator.finalize()
        exit(exitCode)
    } catch {
        writeToStandardError("rank \(communicator.rank) failed: \(error)\n")
        communicator.abort(code: exitCode, message: "aborting all \(communicator.size) rank(s)")
    }
}

/// An error every rank of the job throws together, at the same point and with the same text
/// (ranks found to disagree, from digests all of them gathered). No rank is left waiting in a
/// collective, so the job can end cleanly instead of being aborted.
package protocol JobWideError: Error {}
