import Communication
import Foundation
import TestSupport
import XCTest

/// Starts real `mpirun` jobs of the test worker and checks what every rank reports.
final class MPIJobTests: XCTestCase {
    /// A healthy job here takes 1-4 s (debug build, 3 ranks on 2 cores); a hung collective
    /// never ends, so anything near a minute is a hang and gets killed.
    static let jobTimeout: TimeInterval = 60

    func testCollectivesOnTwoRanks() throws {
        try checkCollectives(ranks: 2)
    }

    func testCollectivesOnThreeRanks() throws {
        try checkCollectives(ranks: 3)
    }

    func testFailureOnMiddleRankAbortsTheJob() throws {
        try checkFailure(onRank: 1, ranks: 3)
    }

    func testFailureOnRankZeroAbortsTheJob() throws {
        try checkFailure(onRank: 0, ranks: 2)
    }

    /// An error MPI itself detects (a truncated broadcast) must come back as a thrown error that
    /// names the call, the rank and MPI's text, not kill the rank silently or hang the job.
    func testMPIErrorBecomesAThrownErrorAndAborts() throws {
        let result = try runJob(ranks: 2, ["mpi-error"])
        XCTAssertFalse(result.timedOut, "the job hung instead of aborting\n\(result.transcript)")
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("rank 1 failed: MPI_Bcast failed on rank 1 of 2: MPI_ERR_TRUNCATE"),
                      result.transcript)
        XCTAssertFalse(result.standardOutput.contains("saw no error"), result.transcript)
    }

    /// Started without mpirun, the worker must pick the single-process communicator.
    func testWorkerWithoutMPIRunUsesSingleProcess() throws {
        let result = try runChild(try locateWorker(), ["collectives"], environment: childEnvironment,
                                  timeout: Self.jobTimeout)
        XCTAssertFalse(result.timedOut, result.transcript)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("rank 0 of 1 uses SingleProcessCommunicator"), result.transcript)
        XCTAssertTrue(result.standardOutput.contains("rank 0 ok"), result.transcript)
    }

    func testSingleScenario() throws {
        let result = try runChild(try locateWorker(), ["single"], environment: childEnvironment,
                                  timeout: Self.jobTimeout)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("rank 0 ok"), result.transcript)
    }

    // MARK: Helpers

    private func checkCollectives(ranks: Int) throws {
        let result = try runJob(ranks: ranks, ["collectives"])
        XCTAssertFalse(result.timedOut, result.transcript)
        XCTAssertEqual(result.status, 0, result.transcript)
        for rank in 0..<ranks {
            XCTAssertTrue(result.standardOutput.contains("rank \(rank) of \(ranks) uses MPICommunicator"),
                          "rank \(rank) did not run on MPI\n\(result.transcript)")
            XCTAssertTrue(result.standardOutput.contains("rank \(rank) ok"),
                          "rank \(rank) did not report ok\n\(result.transcript)")
        }
        XCTAssertFalse(result.standardError.contains("MISMATCH"), result.transcript)
    }

    private func checkFailure(onRank failing: Int, ranks: Int) throws {
        let result = try runJob(ranks: ranks, ["fail-on-rank", "\(failing)"])
        XCTAssertFalse(result.timedOut, "the job hung instead of aborting\n\(result.transcript)")
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("rank \(failing) failed: deliberate failure"), result.transcript)
        XCTAssertFalse(result.standardOutput.contains("passed the barrier"), result.transcript)
    }

    private func runJob(ranks: Int, _ workerArguments: [String]) throws -> ChildResult {
        try runMPIJob(ranks: ranks, executable: try locateWorker(), arguments: workerArguments, timeout: Self.jobTimeout)
    }
}
