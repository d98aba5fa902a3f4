import Communication
import Foundation

/// `agreement`: one check every rank passes identically (must return), then one where the last
/// rank has another "configuration" value and another "data set": every rank must throw the
/// same `RanksDisagree`, which `runOrAbort` turns into a clean non-zero exit (no MPI_Abort).
func agreement(_ communicator: Communicator) throws -> Int32 {
    let last = communicator.size - 1
    try RankAgreement.check([AgreementItem(name: "configuration", text: "a: 1\nb: 2", hint: "same for all", detailed: true)],
                            on: communicator)
    print("rank \(communicator.rank) agreed")
    let b = communicator.rank == last ? "3" : "2"
    try RankAgreement.check([
        AgreementItem(name: "configuration", text: "a: 1\nb: \(b)", hint: "Use one configuration.", detailed: true),
        AgreementItem(name: "data set", text: communicator.rank == last ? "other" : "data", hint: "Share the data."),
    ], on: communicator)
    print("rank \(communicator.rank) passed a disagreement, which must not happen")
    try communicator.finalize()
    return 0
}

/// `stall-on-rank N TIMEOUT`: every rank prints its pid; rank N then sleeps outside any
/// collective while the others wait in a barrier. With TIMEOUT > 0 their watchdogs must end
/// them; a negative TIMEOUT starts no watchdog, to see by hand what happens without one.
func stallOnRank(_ stalled: Int, timeout: Double, _ communicator: Communicator) throws -> Int32 {
    if timeout >= 0 { Watchdog.start(for: communicator, timeout: timeout) }
    try communicator.barrier()
    print("rank \(communicator.rank) pid \(getpid())")
    fflush(nil)   // the test reads the pids while this rank still runs
    if communicator.rank == stalled {
        Thread.sleep(forTimeInterval: 600)
    }
    try communicator.barrier()
    print("rank \(communicator.rank) passed the barrier, which must not happen")
    return 0
}
