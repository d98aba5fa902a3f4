import Foundation
import TestSupport
import XCTest

/// mpirun's MPMD form gives each rank its own command line: ranks that disagree must all stop
/// within seconds, non-zero, with the difference named, before any collective of another size.
extension TrainCommandTests {
    /// A disagreement is found by the first collective, before the model loads: seconds.
    static let agreementBound: TimeInterval = 30

    func trainMPMD(_ rank0: [String], _ rank1: [String]) throws -> ChildResult {
        let result = try runMPMDJob(executable: try locateDiscern(), rankArguments: [rank0, rank1], timeout: 120)
        XCTAssertFalse(result.timedOut, "the job hung\n\(result.transcript)")
        return result
    }

    func expectCleanStop(_ result: ChildResult, naming difference: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.transcript, file: file, line: line)
        XCTAssertLessThan(result.seconds, Self.agreementBound, result.transcript, file: file, line: line)
        XCTAssertTrue(result.standardError.contains("error: ranks disagree on their configuration:\n" + difference), result.transcript,
                      file: file, line: line)
        XCTAssertFalse(result.standardError.contains("double free") || result.standardError.contains("MPI_ABORT"), result.transcript,
                       file: file, line: line)
        XCTAssertFalse(result.standardOutput.contains("step 1/"), "a rank trained\n\(result.transcript)", file: file, line: line)
    }

    func testRankWithOtherStepsStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "steps"), arguments(run: "steps", steps: 6))
        expectCleanStop(result, naming: "  steps: rank 0 4, rank 1 6\n")
    }

    /// Used to corrupt the heap (trainable vectors of different sizes all-reduced).
    func testRankWithOtherLoRARankStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "lora"), arguments(run: "lora") + ["--set", "lora.rank=8"])
        expectCleanStop(result, naming: "  lora.rank: rank 0 4, rank 1 8\n")
    }

    /// Used to hang: only rank 1 would have joined the resume broadcast.
    func testRankWithOtherResumeStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "resume"), arguments(run: "resume") + ["--resume", "auto"])
        expectCleanStop(result, naming: "  --resume: rank 0 (not given), rank 1 auto\n")
    }

    func testRankWithOtherDataDirectoryStopsEveryRank() throws {
        let data = folder.appendingPathComponent("data").path, other = folder.appendingPathComponent("other-data").path
        try FileManager.default.copyItem(atPath: data, toPath: other)
        let rank1 = arguments(run: "data").map { $0 == data ? other : $0 }
        let result = try trainMPMD(arguments(run: "data"), rank1)
        expectCleanStop(result, naming: "  data: rank 0 \(URL(fileURLWithPath: data).standardized.path), rank 1 \(URL(fileURLWithPath: other).standardized.path)\n")
    }

    /// The same command twice in MPMD form is an ordinary 2-rank job: it trains, with the
    /// losses of `mpirun -np 2`.
    func testIdenticalRanksInMPMDFormTrain() throws {
        let result = try trainMPMD(arguments(run: "same"), arguments(run: "same"))
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("done: 4 steps"), result.transcript)
        XCTAssertEqual(try train(arguments(run: "plain"), ranks: 2).status, 0)
        XCTAssertEqual(try losses("same"), try losses("plain"))
    }
}
