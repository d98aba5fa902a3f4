// The program the CommunicationTests start under real `mpirun`. Scenarios:
//   collectives        every collective, rank-dependent data, every result checked on every rank
//                      (again with 3-element MPI calls to exercise the split path); prints "rank R ok"
//   fail-on-rank N     rank N throws mid-way while the others wait in a barrier: the job must end
//                      non-zero at once (runOrAbort), never hang
//   single             the collectives checks on SingleProcessCommunicator, no MPI at all
//   mpi-error          rank 0 broadcasts 4 values, the others expect 2: MPI reports truncation on a
//                      receiving rank, which must surface as a thrown CommunicationError, then abort
//   train-steps DIR OUT M [hard-negatives] [bf16] [duplicates] [no-mask]  three training steps on a fixed global batch (TrainSteps.swift)
//   agreement          ranks that disagree stop together and cleanly (Agreement.swift)
//   stall-on-rank N T  rank N stalls outside collectives; the watchdog (timeout T s) ends the others
import Communication
import Foundation

struct WorkerError: Error, CustomStringConvertible {
    let description: String
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Runs the checks, prints one verdict line, and says whether everything matched.
func runChecks(_ communicator: Communicator, large: Bool = true) throws -> Bool {
    var checks = CollectiveChecks(communicator)
    try checks.runAll(large: large)
    return checks.mismatches == 0
}

func collectives(_ communicator: Communicator) throws -> Int32 {
    print("rank \(communicator.rank) of \(communicator.size) uses \(type(of: communicator))")
    var passed = try runChecks(communicator)
    if communicator is MPICommunicator {
        // Same checks with every MPI call limited to 3 elements, so the split paths for
        // buffers beyond 32-bit counts run too (MPI is already initialised: no second init).
        passed = try runChecks(MPICommunicator(maxElementsPerCall: 3), large: false) && passed
    }
    let allPassed = try !communicator.anyRankFailed(!passed)
    print(passed ? "rank \(communicator.rank) ok" : "rank \(communicator.rank) FAILED")
    try communicator.finalize()
    return allPassed ? 0 : 1
}

func failOnRank(_ failing: Int, _ communicator: Communicator) throws -> Int32 {
    guard (0..<communicator.size).contains(failing) else {
        throw WorkerError(description: "fail-on-rank \(failing): the job has only \(communicator.size) rank(s)")
    }
    var started = [Double(1)]
    try communicator.allReduceSum(&started)   // every rank gets this far
    if communicator.rank == failing {
        Thread.sleep(forTimeInterval: 0.2)   // let the others enter the barrier first
        throw WorkerError(description: "deliberate failure on rank \(failing) while the others wait")
    }
    try communicator.barrier()   // without the abort, the other ranks would wait here forever
    print("rank \(communicator.rank) passed the barrier, which must not happen")
    try communicator.finalize()
    return 0
}

func mpiError(_ communicator: Communicator) throws -> Int32 {
    // A wrong count is normally a precondition; the raw MPI call is the only way to provoke an
    // error that MPI itself detects, which checks that MPI_ERRORS_RETURN is in force.
    var values = [Double](repeating: 1, count: communicator.rank == 0 ? 4 : 2)
    try values.withUnsafeMutableBufferPointer { try communicator.broadcast($0, root: 0) }
    try communicator.barrier()
    print("rank \(communicator.rank) saw no error, which must not happen")
    try communicator.finalize()
    return 0
}

let arguments = Array(CommandLine.arguments.dropFirst())
let usage = "usage: discern-test-worker collectives | fail-on-rank N | single | mpi-error | train-steps MODEL_DIR OUT_FILE MICRO_BATCH [hard-negatives] [bf16] [duplicates] [no-mask] | agreement | stall-on-rank N TIMEOUT"
let communicator: Communicator
do {
    communicator = arguments.first == "single" ? SingleProcessCommunicator() : try makeCommunicator()
} catch {
    printError("cannot start communication: \(error)")
    exit(2)
}
let status: Int32 = runOrAbort(on: communicator) {
    switch (arguments.first, arguments.count) {
    case ("collectives", 1), ("single", 1):
        return try collectives(communicator)
    case ("mpi-error", 1):
        return try mpiError(communicator)
    case ("train-steps", 4...8):
        return try trainSteps(Array(arguments.dropFirst()), communicator)
    case ("agreement", 1):
        return try agreement(communicator)
    case ("stall-on-rank", 3):
        guard let stalled = Int(arguments[1]), let timeout = Double(arguments[2]) else { throw WorkerError(description: usage) }
        return try stallOnRank(stalled, timeout: timeout, communicator)
    case ("fail-on-rank", 2):
        guard let failing = Int(arguments[1]) else { throw WorkerError(description: usage) }
        return try failOnRank(failing, communicator)
    default:
        throw WorkerError(description: usage)
    }
}
exit(status)
