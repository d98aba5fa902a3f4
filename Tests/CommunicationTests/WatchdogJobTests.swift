import Communication
import Foundation
import TestSupport
import XCTest

/// Ranks that disagree, stall or lose their launcher, under real `mpirun`: every rank must end
/// within a bounded time with a clear message, never hang.
final class WatchdogJobTests: XCTestCase {
    /// Far above the few seconds each job needs; reaching it means a hang.
    static let jobTimeout: TimeInterval = 60

    func testDisagreeingRanksStopTogetherNamingTheDifference() throws {
        let result = try runMPIJob(ranks: 3, executable: try locateWorker(), arguments: ["agreement"], timeout: Self.jobTimeout)
        XCTAssertFalse(result.timedOut, result.transcript)
        XCTAssertEqual(result.status, 1, result.transcript)
        for rank in 0..<3 { XCTAssertTrue(result.standardOutput.contains("rank \(rank) agreed"), result.transcript) }
        XCTAssertTrue(result.standardError.contains("ranks disagree on their configuration:\n  b: rank 0 2, rank 2 3\n  Use one configuration."),
                      result.transcript)
        XCTAssertTrue(result.standardError.contains("ranks disagree on the data set: ranks 0, 1 one, rank 2 another. Share the data."),
                      result.transcript)
        XCTAssertFalse(result.standardOutput.contains("must not happen"), result.transcript)
        // A coordinated stop: no rank aborted the job.
        XCTAssertFalse(result.standardError.contains("MPI_ABORT") || result.standardError.contains("aborting all"), result.transcript)
    }

    /// Rank 1 stops making progress outside any collective: ranks 0 and 2 wait in a barrier
    /// until their watchdogs (1 s) end them with status 75; mpirun then ends rank 1.
    func testWatchdogEndsRanksStuckInACollective() throws {
        let result = try runMPIJob(ranks: 3, executable: try locateWorker(), arguments: ["stall-on-rank", "1", "1"], timeout: Self.jobTimeout)
        XCTAssertFalse(result.timedOut, "the job hung\n\(result.transcript)")
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("no progress in MPI_Barrier for 1 s: a rank or host is unreachable; stopping so the job "
            + "can be requeued; resume with --resume auto (distributed.timeout is 1 s)"), result.transcript)
        XCTAssertFalse(result.standardOutput.contains("must not happen"), result.transcript)
        XCTAssertLessThan(result.seconds, 30, result.transcript)
    }
}
