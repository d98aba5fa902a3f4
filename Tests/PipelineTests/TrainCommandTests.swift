import Checkpointing
import Datasets
import Evaluation
import Foundation
import Kernels
import ModelFiles
import TestSupport
import XCTest

/// `discern train` as a user runs it: real shards, real checkpoints, real mpirun.
final class TrainCommandTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ModelsTests/Fixtures").standardized
    static let model = fixtures.appendingPathComponent("gqa").path
    /// Qwen2-VL trains on the same 16x16 shards: its processor smart-resizes each image.
    static let qwen2VL = fixtures.appendingPathComponent("qwen2vl-a").path
    /// Float sums in another order (1 vs 2 ranks): measured ~1e-7; 1e-5 allows other reduction
    /// orders and still catches any real difference between the runs (those are O(1e-2) or more).
    static let crossRankTolerance = 1e-5
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // 24 random 16x16 images with captions; pair 5 lacks a long caption, pair 7 a short one.
        let writer = try ShardWriter(directory: folder.appendingPathComponent("data").path, split: "train", imageSize: 16, samplesPerShard: 10)
        var random = Xoshiro256(seed: 3)
        let colours = ["red", "green", "blue", "yellow"], shapes = ["circle", "square", "triangle"]
        for i in 0..<24 {
            let image = (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }
            let short = "a \(colours[i % 4]) \(shapes[i % 3]) left of a \(colours[(i + 1) % 4]) \(shapes[(i + 2) % 3])"
            try writer.append(Sample(id: "s\(i)", image: image, short: i == 7 ? nil : short,
                                     long: i == 5 ? nil : "There are two objects. \(short.capitalized). Sample \(i)."))
        }
        try writer.finish()
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func arguments(run: String, steps: Int = 4, model: String = TrainCommandTests.model) -> [String] {
        ["train", "--model", model, "--data", folder.appendingPathComponent("data").path, "--run-dir", folder.appendingPathComponent(run).path,
         "--steps", "\(steps)", "--global-batch", "6", "--set", "lora.rank=4", "--set", "log_every=1", "--set", "checkpoint.every=2",
         "--set", "optimizer.lr=1e-3", "--set", "lora.dropout=0.1"]
    }

    func train(_ arguments: [String], ranks: Int = 1) throws -> ChildResult {
        let result = ranks == 1 ? try runChild(try locateDiscern(), arguments, environment: childEnvironment, timeout: 120)
                                : try runMPIJob(ranks: ranks, executable: try locateDiscern(), arguments: arguments, timeout: 120)
        return result
    }

    func losses(_ run: String) throws -> [Double] {
        let text = try String(contentsOf: folder.appendingPathComponent(run).appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try metricsStepLines(text).map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (object["loss"] as! NSNumber).doubleValue
        }
    }

    func parameters(_ run: String, step: Int) throws -> [Float] {
        let path = folder.appendingPathComponent(run).appendingPathComponent(CheckpointStore.fileName(step: step)).path
        return try CheckpointFile.read(path).parameters.flatMap(\.values)
    }

    func testResumeIsBitExactAndContinuesAcrossRankCounts() throws { try checkResume(model: Self.model) }

    func testQwen2VLResumeIsBitExactAndContinuesAcrossRankCounts() throws { try checkResume(model: Self.qwen2VL) }

    /// bf16 compute: resume is bit-exact as in fp32 (the same GEMMs on the same rows); across rank
    /// counts each rank's bf16 GEMMs see other row counts, whose fp32 sums differ in the last
    /// bits, which bf16 rounding of the next activation can turn into a 2^-8 change of one
    /// operand: the trajectories then agree to ~1e-4 (measured below 3e-5), not ~1e-7.
    func testBFloat16ResumeIsBitExactAndContinuesAcrossRankCounts() throws {
        try XCTSkipUnless(BFloat16Hardware.native, "this CPU has no native bf16 dot products (\(BFloat16Hardware.description))")
        try checkResume(model: Self.model, extra: ["--set", "memory.compute=bf16"], crossRankTolerance: 1e-4, expect: "compute: bf16")
        try checkResume(model: Self.qwen2VL, extra: ["--set", "memory.compute=bf16"], crossRankTolerance: 1e-4, expect: "compute: bf16")
    }

    func checkResume(model: String, extra: [String] = [], crossRankTolerance: Double = TrainCommandTests.crossRankTolerance,
                     expect: String = "compute: fp32") throws {
        func arguments(run: String) -> [String] { self.arguments(run: run, model: model) + extra }
        for run in ["straight", "halves", "ranks"] { try? FileManager.default.removeItem(at: folder.appendingPathComponent(run)) }
        var result = try train(arguments(run: "straight"))
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains(expect) || result.standardError.contains(expect), result.transcript)
        XCTAssertTrue(result.standardOutput.contains("step 4/4"), result.transcript)
        result = try train(arguments(run: "halves") + ["--stop-at", "2"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("stopped at step 2 of 4"), result.transcript)
        result = try train(arguments(run: "halves") + ["--resume", "auto"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("resumed from"), result.transcript)
        XCTAssertEqual(try losses("halves"), try losses("straight"), "per-step losses of a resumed run must be identical")
        XCTAssertEqual(try parameters("halves", step: 4), try parameters("straight", step: 4), "final parameters must be identical")

        // 1 rank for two steps, then 2 ranks: the same trajectory within float tolerance.
        result = try train(arguments(run: "ranks") + ["--stop-at", "2"])
        XCTAssertEqual(result.status, 0, result.transcript)
        result = try train(arguments(run: "ranks") + ["--resume", "auto"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("trained on 1 rank(s), continuing on 2"), result.transcript)
        let straight = try losses("straight"), ranks = try losses("ranks")
        XCTAssertEqual(ranks.count, 4)
        for (a, b) in zip(straight, ranks) { XCTAssertEqual(a, b, accuracy: crossRankTolerance * a) }
        let crossRank = maxRelativeError(try parameters("ranks", step: 4), try parameters("straight", step: 4))
        XCTAssertLessThanOrEqual(crossRank, crossRankTolerance)
        print("resume (\(expect)): 1 then 2 ranks against 1 rank: parameters differ by \(crossRank)")
    }

    func testIncompatibleResumeIsRefusedWithTheReason() throws {
        XCTAssertEqual(try train(arguments(run: "base") + ["--stop-at", "2"]).status, 0)
        var result = try train(arguments(run: "base") + ["--resume", "auto", "--set", "lora.rank=8"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.standardError.contains("lora.rank: checkpoint 4, now 8"), result.transcript)
        // Same shapes, another RMSNorm epsilon: a different base model all the same.
        let other = folder.appendingPathComponent("other-model")
        try FileManager.default.copyItem(atPath: Self.model, toPath: other.path)
        let configFile = other.appendingPathComponent("config.json")
        let text = try String(contentsOf: configFile, encoding: .utf8)
        XCTAssertTrue(text.contains("\"rms_norm_eps\": 1e-06"), "fixture config changed: update this test")
        try text.replacingOccurrences(of: "\"rms_norm_eps\": 1e-06", with: "\"rms_norm_eps\": 1e-05")
            .write(to: configFile, atomically: true, encoding: .utf8)
        var changed = arguments(run: "base")
        changed[changed.firstIndex(of: Self.model)!] = other.path
        result = try train(changed + ["--resume", "auto"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.standardError.contains("different base model"), result.transcript)
        XCTAssertTrue(result.standardError.contains("rms_norm_eps 1e-05"), result.transcript)
    }

    func testConfigurationErrorsAreClear() throws {
        let config = folder.appendingPathComponent("bad.yaml")
        try "optimizer:\n  lrate: 1\n".write(to: config, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["train", "--config", config.path], "bad.yaml:2: unknown key 'optimizer.lrate'. Did you mean 'optimizer.lr'?"),
            (["train", "--config", folder.appendingPathComponent("missing.yaml").path], "missing.yaml: config file not found"),
            (arguments(run: "x") + ["--set", "steps=ten"], "steps should be an integer"),
            (arguments(run: "x") + ["--global-batch", "30"], "fewer than one global batch of 30"),
            (["train", "--data", "d"], "no model"),
            (arguments(run: "x") + ["--set", "loss.hard_negatives=1"], "stores no hard negative captions; regenerate it with `discern synth --train-negatives`"),
            (arguments(run: "x") + ["--set", "loss.hard_negatives=-1"], "loss.hard_negatives: -1 is out of range; it must be from 0 to 16"),
        ]
        for (arguments, message) in cases {
            let result = try train(arguments)
            XCTAssertNotEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardError.contains(message), "expected '\(message)':\n\(result.transcript)")
        }
    }

    /// Hard negatives read from the shards: two per pair where stored (one pair has one, one has
    /// none), the same losses on 1 and 2 ranks, and a different loss than without them.
    func testHardNegativesFromTheShardsTrainAlikeOnOneAndTwoRanks() throws {
        let data = folder.appendingPathComponent("negatives").path
        let writer = try ShardWriter(directory: data, split: "train", imageSize: 16, samplesPerShard: 10)
        var random = Xoshiro256(seed: 4)
        for i in 0..<12 {
            let image = (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }
            var negatives = ["swap_attributes": "a blue circle left of a red square \(i)", "swap_objects": "a red square left of a blue circle \(i)"]
            if i == 3 { negatives = [:] }
            if i == 8 { negatives.removeValue(forKey: "swap_objects") }
            try writer.append(Sample(id: "n\(i)", image: image, short: "a red circle left of a blue square \(i)", long: "Sample \(i).",
                                     negatives: negatives))
        }
        try writer.finish()
        func run(_ name: String, ranks: Int, negatives: Int) throws -> [Double] {
            let result = try train(arguments(run: name, steps: 2).map { $0 == folder.appendingPathComponent("data").path ? data : $0 }
                + ["--set", "loss.hard_negatives=\(negatives)", "--set", "lora.dropout=0"], ranks: ranks)
            XCTAssertEqual(result.status, 0, result.transcript)
            return try losses(name)
        }
        let one = try run("hn1", ranks: 1, negatives: 2), two = try run("hn2", ranks: 2, negatives: 2)
        for (a, b) in zip(one, two) { XCTAssertEqual(a, b, accuracy: Self.crossRankTolerance * max(abs(a), 1)) }
        let without = try run("hn0", ranks: 1, negatives: 0)
        XCTAssertGreaterThan(one[0], without[0] + 1e-3, "hard negatives must raise the first step's contrastive loss")
    }

    /// A full-model (generative pre-training) checkpoint is a new base, not adapters: embedding
    /// with it directly is refused with the export command to run, and its merged export loads.
    func testFullModelCheckpointIsExportedWithMergeNotAppliedAsAdapters() throws {
        let result = try train(arguments(run: "full", steps: 2) + ["--set", "train.mode=full", "--set", "loss.contrastive=0"])
        XCTAssertEqual(result.status, 0, result.transcript)
        let checkpoint = folder.appendingPathComponent("full").appendingPathComponent(CheckpointStore.fileName(step: 2)).path
        XCTAssertThrowsError(try Embedder(directory: try ModelDirectory(path: Self.model), checkpoint: checkpoint)) { error in
            XCTAssertTrue("\(error)".contains("train.mode full") && "\(error)".contains("--merge"), "\(error)")
        }
        let export = folder.appendingPathComponent("export").path
        let exported = try runChild(try locateDiscern(), ["export", "--checkpoint", checkpoint, "--model", Self.model, "--output", export, "--merge"],
                                    environment: childEnvironment, timeout: 120)
        XCTAssertEqual(exported.status, 0, exported.transcript)
        let merged = try Embedder(directory: try ModelDirectory(path: export + "/merged"))
        let original = try Embedder(directory: try ModelDirectory(path: Self.model))
        let caption = ["a red circle left of a blue square"]
        XCTAssertNotEqual(try merged.embedTexts(caption), try original.embedTexts(caption), "the merged model should carry the trained weights")
    }

    /// A diverging run stops with the step, the loss parts and the last good checkpoint named.
    func testNonFiniteLossStopsNamingTheLastCheckpoint() throws {
        let result = try train(arguments(run: "nan", steps: 30) + ["--set", "optimizer.lr=1e6", "--set", "optimizer.grad_clip=0"])
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("the loss is not finite (total"), result.transcript)
        XCTAssertTrue(result.standardError.contains("Last good checkpoint: " + folder.appendingPathComponent("nan").path + "/step-0000000"), result.transcript)
    }

    /// Preemption: SIGTERM to mpirun reaches every rank, which stop at the same step boundary;
    /// rank 0 writes a checkpoint and `--resume auto` finishes the run from it.
    func testSIGTERMUnderMPIRunWritesACheckpointAndResumeContinues() throws {
        guard let mpirun = findOnPath("mpirun") else { throw SetupError(description: "mpirun is not on PATH; run ./launch/test") }
        let run = folder.appendingPathComponent("preempted")
        let log = folder.appendingPathComponent("preempted.log")
        let (process, handle) = try startLogged(mpirun, ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "pml", "ob1", "--mca", "btl", "self,vader",
                                                          "-x", "OPENBLAS_NUM_THREADS=1", "-np", "2", try locateDiscern().path] + arguments(run: "preempted", steps: 400),
                                                log: log)
        waitForMetricsSteps(run.appendingPathComponent("metrics.jsonl"), 3, seconds: 60, while: process)
        kill(process.processIdentifier, SIGTERM)
        let finished = Date().addingTimeInterval(60)
        while process.isRunning && Date() < finished { Thread.sleep(forTimeInterval: 0.2) }
        if process.isRunning { process.terminate(); XCTFail("mpirun did not stop within 60 s of SIGTERM") }
        try handle.close()
        let output = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(output.contains("stopped at step"), output)
        let files = CheckpointStore(directory: run.path, keep: 1).checkpointFiles()
        let latest = try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8).trimmingCharacters(in: .newlines)
        XCTAssertEqual(files.last, latest, output)
        let stoppedAt = try CheckpointFile.read(run.appendingPathComponent(latest).path).step
        XCTAssertTrue(output.contains("stopped at step \(stoppedAt) of 400"), output)
        XCTAssertGreaterThanOrEqual(stoppedAt, 3)
        XCTAssertLessThan(stoppedAt, 400)
        // Resume to the end (fewer steps, so the test stays short: the schedule may change on resume).
        let result = try train(arguments(run: "preempted", steps: stoppedAt + 2) + ["--resume", "auto"], ranks: 2)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("resumed from") && result.standardOutput.contains("done: \(stoppedAt + 2) steps"), result.transcript)
    }
}
