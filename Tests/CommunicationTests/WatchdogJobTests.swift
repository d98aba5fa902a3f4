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

extension WatchdogJobTests {
    /// A rank whose parent dies while mpirun, not told, runs on (the rank sits below a wrapper
    /// shell that is killed): Open MPI does not end it, the watchdog does, on the changed parent.
    /// (When mpirun or orted itself dies, Open MPI 4 already ends its ranks on this machine.)
    func testRankWhoseParentDiesExits() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-orphan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = folder.appendingPathComponent("log")
        // The outer shell (mpirun's child) outlives the inner one (the rank's parent).
        let wrapped = "sh -c '\"$0\" stall-on-rank 1 0; true' \"$0\"; sleep 60"
        let (job, handle) = try startLogged(try locateMPIRun(), mpirunFlags + ["-np", "2", "sh", "-c", wrapped, try locateWorker().path], log: log)
        defer { job.terminate(); job.waitUntilExit(); try? handle.close() }
        let pids = waitForPIDs(in: log, count: 2, seconds: Self.jobTimeout)
        XCTAssertEqual(pids.count, 2, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
        guard let rank0 = pids[0], let parent = parentProcess(of: rank0) else { return }
        kill(parent, SIGKILL)
        let deadline = Date().addingTimeInterval(20)
        while isRunning(rank0) && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        let survived = isRunning(rank0)
        for pid in pids.values { kill(pid, SIGKILL) }
        XCTAssertFalse(survived, "rank 0 kept running after its parent died")
        // mpirun forwards the rank's last words a moment later.
        let message = "rank 0: its launcher (process \(parent)"
        let shown = Date().addingTimeInterval(10)
        while !((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains(message) && Date() < shown { Thread.sleep(forTimeInterval: 0.1) }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(output.contains(message), output)
    }

    /// Rank -> pid, as the worker ranks print them ("rank R pid P", in any order), once
    /// `count` of them are there.
    func waitForPIDs(in log: URL, count: Int, seconds: TimeInterval) -> [Int: Int32] {
        let deadline = Date().addingTimeInterval(seconds)
        var pids: [Int: Int32] = [:]
        while Date() < deadline {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 4, words[2] == "pid", let rank = Int(words[1]), let pid = Int32(words[3]) { pids[rank] = pid }
            }
            if pids.count >= count { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return pids
    }

    func parentProcess(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }
}
