import Datasets
import Foundation
import TestSupport
import XCTest

/// mpirun's MPMD form gives each rank its own command line: ranks that disagree must all stop
/// within seconds, non-zero, with the difference named, before any collective of another size.
extension TrainCommandTests {
    /// A disagreement is found by the first collective, before the model loads: seconds.
    static let agreementBound: TimeInterval = 30

    /// `rank0Options` go to mpirun for rank 0 (such as `-wdir DIR`); `rank1Wrapper` runs rank 1's command.
    func trainMPMD(_ rank0: [String], _ rank1: [String], rank0Options: [String] = [], rank1Wrapper: [String] = []) throws -> ChildResult {
        let discern = try locateDiscern().path
        let result = try runMPMDJob(rankCommands: [rank0Options + [discern] + rank0, rank1Wrapper + [discern] + rank1], timeout: 120)
        XCTAssertFalse(result.timedOut, "the job hung\n\(result.transcript)")
        return result
    }

    func expectCleanStop(_ result: ChildResult, naming difference: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, result.transcript, file: file, line: line)
        XCTAssertLessThan(result.seconds, Self.agreementBound, result.transcript, file: file, line: line)
        XCTAssertTrue(result.standardError.contains("error: ranks disagree on " + difference), result.transcript, file: file, line: line)
        XCTAssertFalse(result.standardError.contains("double free") || result.standardError.contains("MPI_ABORT"), result.transcript,
                       file: file, line: line)
        XCTAssertFalse(result.standardOutput.contains("step 1/"), "a rank trained\n\(result.transcript)", file: file, line: line)
    }

    func testRankWithOtherStepsStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "steps"), arguments(run: "steps", steps: 6))
        expectCleanStop(result, naming: "their configuration:\n  steps: rank 0 4, rank 1 6\n")
    }

    /// Used to corrupt the heap (trainable vectors of different sizes all-reduced).
    func testRankWithOtherLoRARankStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "lora"), arguments(run: "lora") + ["--set", "lora.rank=8"])
        expectCleanStop(result, naming: "their configuration:\n  lora.rank: rank 0 4, rank 1 8\n")
    }

    /// Used to hang: only rank 1 would have joined the resume broadcast.
    func testRankWithOtherResumeStopsEveryRank() throws {
        let result = try trainMPMD(arguments(run: "resume"), arguments(run: "resume") + ["--resume", "auto"])
        expectCleanStop(result, naming: "their configuration:\n  --resume: rank 0 (not given), rank 1 auto\n")
    }

    func testRankWithOtherDataDirectoryStopsEveryRank() throws {
        let data = folder.appendingPathComponent("data").path, other = folder.appendingPathComponent("other-data").path
        try FileManager.default.copyItem(atPath: data, toPath: other)
        let rank1 = arguments(run: "data").map { $0 == data ? other : $0 }
        let result = try trainMPMD(arguments(run: "data"), rank1)
        expectCleanStop(result, naming: "their configuration:\n  data: rank 0 \(URL(fileURLWithPath: data).standardized.path), rank 1 \(URL(fileURLWithPath: other).standardized.path)\n")
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

    /// Paths are compared made absolute: `data` run from the folder that holds it and the
    /// absolute path name the same directory, so the job trains.
    func testRelativeAndAbsolutePathsToTheSameFilesAgree() throws {
        let data = folder.appendingPathComponent("data").path
        let relative = arguments(run: "paths").map { $0 == data ? "./data" : $0 }
        let result = try trainMPMD(relative, arguments(run: "paths"), rank0Options: ["-wdir", folder.path])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("done: 4 steps"), result.transcript)
    }

    func testTimeoutBelowOneSecondIsRefused() throws {
        // A negative value is outside the field's range; one inside it but below a second is
        // refused by the watchdog's own rule.
        for (value, message) in [("-1", "distributed.timeout: -1 is out of range; it must be from 0 to"),
                                 ("0.5", "distributed.timeout is 0.5: it must be 0 (wait forever) or at least 1 second")] {
            let result = try train(arguments(run: "timeout") + ["--set", "distributed.timeout=\(value)"])
            XCTAssertNotEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardError.contains(message), result.transcript)
        }
    }

    /// Rank 1 runs in its own mount namespace where `path` shows `replacement`: a node whose file
    /// system holds other files under the same name. Nil where mount namespaces are not allowed.
    func seeing(_ replacement: String, at path: String) throws -> [String]? {
        guard let unshare = findOnPath("unshare"),
              try runChild(unshare, ["-m", "true"], environment: childEnvironment, timeout: 20).status == 0 else { return nil }
        return [unshare.path, "-m", "sh", "-c", #"mount --bind "$1" "$2" && shift 2 && exec "$@""#, "sh", replacement, path]
    }

    /// Same path, same configuration, another data set (more pairs): used to train diverging
    /// replicas (another data order) with exit 0.
    func testRankSeeingOtherDataUnderTheSamePathStopsEveryRank() throws {
        let data = folder.appendingPathComponent("data").path, other = folder.appendingPathComponent("more-data").path
        let writer = try ShardWriter(directory: other, split: "train", imageSize: 16, samplesPerShard: 10)
        for i in 0..<30 {
            try writer.append(Sample(id: "m\(i)", image: [UInt8](repeating: UInt8(i), count: 16 * 16 * 3), short: "a red circle \(i)", long: "Pair \(i)."))
        }
        try writer.finish()
        guard let wrapper = try seeing(other, at: data) else { throw XCTSkip("no mount namespaces here (needs root or CAP_SYS_ADMIN)") }
        let result = try trainMPMD(arguments(run: "nodes"), arguments(run: "nodes"), rank1Wrapper: wrapper)
        expectCleanStop(result, naming: "the data set: rank 0 one, rank 1 another. Their dataset.json or shard files differ")
    }

    /// Same model path, another base model (another RMSNorm epsilon) on rank 1.
    func testRankSeeingOtherModelUnderTheSamePathStopsEveryRank() throws {
        let other = folder.appendingPathComponent("other-model")
        try FileManager.default.copyItem(atPath: Self.model, toPath: other.path)
        let configFile = other.appendingPathComponent("config.json")
        let text = try String(contentsOf: configFile, encoding: .utf8)
        XCTAssertTrue(text.contains("\"rms_norm_eps\": 1e-06"), "fixture config changed: update this test")
        try text.replacingOccurrences(of: "\"rms_norm_eps\": 1e-06", with: "\"rms_norm_eps\": 1e-05").write(to: configFile, atomically: true, encoding: .utf8)
        guard let wrapper = try seeing(other.path, at: Self.model) else { throw XCTSkip("no mount namespaces here (needs root or CAP_SYS_ADMIN)") }
        let result = try trainMPMD(arguments(run: "models"), arguments(run: "models"), rank1Wrapper: wrapper)
        expectCleanStop(result, naming: "the base model: rank 0 one, rank 1 another.")
    }
}
