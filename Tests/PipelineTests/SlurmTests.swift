import Checkpointing
import Foundation
import TestSupport
import XCTest

/// launch/slurm.sbatch on a real one-node Slurm (launch/slurm-local): a job stopped by its time
/// limit and a job stopped by a preemption each write a checkpoint at the stop step, requeue
/// themselves, resume and complete, with every step logged once and the losses of an
/// uninterrupted 2-rank mpirun run, bit for bit.
final class SlurmTests: XCTestCase {
    /// About 50 s at full speed on 2 cores: long enough that a stop signal (the time-limit warning
    /// comes at slurmctld's next 30-s check) always lands mid-run.
    static let steps = 5000
    var folder: URL!
    var cluster: SlurmCluster!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        cluster = try SlurmCluster(folder: folder.appendingPathComponent("cluster"))
    }

    override func tearDownWithError() throws {
        cluster?.down()
        try? FileManager.default.removeItem(at: folder)
    }

    func testTimeLimitAndPreemptionCheckpointRequeueAndResumeBitExactly() throws {
        let config = try writeConfig()
        let reference = try runMPIJob(ranks: 2, executable: try locateDiscern(),
                                      arguments: ["train", "--config", config.path, "--run-dir", run("reference").path], timeout: 300)
        XCTAssertEqual(reference.status, 0, reference.transcript)
        let losses = try metrics(run("reference"))
        XCTAssertEqual(losses.map(\.step), Array(1...Self.steps))

        try checkTimeLimit(config: config, reference: losses.map(\.loss))
        try checkPreemption(config: config, reference: losses.map(\.loss))
    }

    /// The job's time limit is cut while it runs, so the `--signal=TERM@120` warning fires; the
    /// limit is restored once the ranks have stopped, before the requeued job starts again.
    func checkTimeLimit(config: URL, reference: [Double]) throws {
        let id = try submitTraining(config: config, run: "time-limit", extra: ["--time=30", "--signal=TERM@120"])
        try waitForSteps(200, run: "time-limit", job: id)
        let elapsed = try seconds(cluster.job(id)["RunTime"] ?? "")
        try cluster.run("scontrol", ["update", "JobId=\(id)", "TimeLimit=\(elapsed / 60 + 2)"])   // 60 to 120 s left
        XCTAssertTrue(cluster.wait(seconds: 90) { output(id).contains("stopped at step") }, output(id))
        try cluster.run("scontrol", ["update", "JobId=\(id)", "TimeLimit=30"])
        try checkResumed(job: id, run: "time-limit", reference: reference)
    }

    /// An `urgent`-partition job needs a core of the node the training job holds exclusively:
    /// Slurm preempts the training job (PreemptMode=REQUEUE, GraceTime), and the urgent job runs.
    func checkPreemption(config: URL, reference: [Double]) throws {
        let id = try submitTraining(config: config, run: "preempted", extra: [])
        try waitForSteps(200, run: "preempted", job: id)
        let urgent = try cluster.submit(["--partition=urgent", "--ntasks=1", "--output=\(folder.path)/urgent.out",
                                         "--wrap", "echo the urgent job ran"])
        XCTAssertTrue(try cluster.waitForState(urgent, "COMPLETED", seconds: 120), output(id))
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("urgent.out"), encoding: .utf8), "the urgent job ran\n")
        try checkResumed(job: id, run: "preempted", reference: reference)
    }

    /// A checkpoint at the stop step, a second start that resumed from it, the job COMPLETED after
    /// one requeue, each step logged once, and the uninterrupted run's losses.
    func checkResumed(job id: String, run name: String, reference: [Double]) throws {
        XCTAssertTrue(try cluster.waitForState(id, "COMPLETED", seconds: 180), output(id))
        let text = output(id), checkpointFolder = run(name)
        guard let stop = stopStep(in: text) else { return XCTFail("no stop in the job's output:\n\(text)") }
        XCTAssertLessThan(stop, Self.steps, text)
        let checkpoint = checkpointFolder.appendingPathComponent(CheckpointStore.fileName(step: stop)).path
        XCTAssertEqual(try CheckpointFile.read(checkpoint).step, stop)
        XCTAssertTrue(text.contains("tasks 0-1: Exited with exit code 75"), text)
        XCTAssertTrue(text.contains("[discern job \(id), start 2]") && text.contains("resumed from \(checkpoint) at step \(stop)"), text)
        XCTAssertTrue(text.contains("done: \(Self.steps) steps") && text.contains("training finished"), text)
        XCTAssertEqual(try cluster.job(id)["Restarts"], "1")
        let logged = try metrics(checkpointFolder)
        XCTAssertEqual(logged.map(\.step), Array(1...Self.steps), "every step exactly once in metrics.jsonl")
        XCTAssertEqual(logged.map(\.loss), reference, "the losses of the uninterrupted run, bit for bit")
    }

    // MARK: - Helpers

    func run(_ name: String) -> URL { folder.appendingPathComponent(name) }

    func writeConfig() throws -> URL {
        let data = folder.appendingPathComponent("data")
        let synth = try runChild(try locateDiscern(), ["synth", "--output", data.path, "--train", "64", "--eval", "8", "--image-size", "16"],
                                 environment: childEnvironment, timeout: 120)
        XCTAssertEqual(synth.status, 0, synth.transcript)
        let config = folder.appendingPathComponent("run.yaml")
        try """
        model: \(TrainCommandTests.model)
        data: \(data.path)
        seed: 1
        steps: \(Self.steps)
        global_batch: 8
        log_every: 1000
        lora:
          rank: 4
        checkpoint:
          every: 1000
          keep: 20

        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    func submitTraining(config: URL, run name: String, extra: [String]) throws -> String {
        try cluster.submit(extra + ["--nodes=1", "--output=\(folder.path)/job-%j.out", "launch/slurm.sbatch", config.path, "--run-dir", run(name).path],
                           environment: ["DISCERN_BIN": try locateDiscern().path, "RANKS_PER_NODE": "2"])
    }

    func output(_ id: String) -> String {
        (try? String(contentsOf: folder.appendingPathComponent("job-\(id).out"), encoding: .utf8)) ?? "(no output yet)"
    }

    func waitForSteps(_ steps: Int, run name: String, job id: String) throws {
        let file = run(name).appendingPathComponent("metrics.jsonl")
        let reached = try cluster.wait(seconds: 120) {
            let lines = (try? String(contentsOf: file, encoding: .utf8)).map(metricsStepLines)?.count ?? 0
            return try lines >= steps || cluster.job(id)["JobState"] != "RUNNING" && cluster.job(id)["JobState"] != "PENDING"
        }
        guard reached, try cluster.job(id)["JobState"] == "RUNNING" else {
            throw SetupError(description: "job \(id) did not reach step \(steps) running: \(try cluster.job(id)["JobState"] ?? "?")\n\(output(id))")
        }
    }

    func metrics(_ run: URL) throws -> [(step: Int, loss: Double)] {
        let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try metricsStepLines(text).map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return ((object["step"] as! NSNumber).intValue, (object["loss"] as! NSNumber).doubleValue)
        }
    }

    /// K from "stopped at step K of N".
    func stopStep(in text: String) -> Int? {
        guard let range = text.range(of: "stopped at step ") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// Seconds from Slurm's [D-]HH:MM:SS.
    func seconds(_ time: String) throws -> Int {
        let days = time.contains("-") ? Int(time.split(separator: "-")[0]) ?? 0 : 0
        let clock = time.split(separator: "-").last.map { $0.split(separator: ":").compactMap { Int($0) } } ?? []
        guard clock.count == 3 else { throw SetupError(description: "unreadable Slurm time '\(time)'") }
        return days * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2]
    }
}
