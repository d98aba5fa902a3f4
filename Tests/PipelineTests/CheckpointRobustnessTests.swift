import Checkpointing
import Evaluation
import Formats
import Foundation
import ModelFiles
import TestSupport
import XCTest

/// Damaged checkpoints, broken exports, a stale `latest` and a full disk, through the real
/// `discern` commands (issue #14). Uses TrainCommandTests' data set and arguments.
extension TrainCommandTests {
    func checkpoint(_ run: String, step: Int) -> String {
        folder.appendingPathComponent(run).appendingPathComponent(CheckpointStore.fileName(step: step)).path
    }

    func discern(_ arguments: [String]) throws -> ChildResult {
        let result = try runChild(try locateDiscern(), arguments, environment: childEnvironment, timeout: 120)
        XCTAssertFalse(result.timedOut, result.transcript)
        return result
    }

    /// Exit status 1 (a thrown error; a signal death reads otherwise) with every fragment on stderr.
    func assertCleanFailure(_ result: ChildResult, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.transcript, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.standardError.contains(fragment), "missing '\(fragment)': \(result.transcript)", file: file, line: line)
        }
    }

    func testResumingFromAMutatedCheckpointIsRefusedNamingTheTensor() throws {
        XCTAssertEqual(try train(arguments(run: "base") + ["--stop-at", "2"]).status, 0)
        let good = try CheckpointFile.read(checkpoint("base", step: 2))
        let name = good.parameters[0].name
        var mutations: [(RawCheckpoint, [String])] = []
        var short = RawCheckpoint(good)
        short.firstMoments[0] = NamedTensor(name: name, shape: [1], values: [0.5])
        mutations.append((short, ["/optimizer/first_moment/\(name) has shape [1]"]))
        var nan = RawCheckpoint(good)
        nan.secondMoments[0].values[0] = .nan
        mutations.append((nan, ["optimizer/second_moment/\(name) holds a non-finite value"]))
        var negativeStep = RawCheckpoint(good)
        negativeStep.attributes["step"] = -1
        mutations.append((negativeStep, ["the attribute step is -1"]))
        for (index, (raw, fragments)) in mutations.enumerated() {
            let path = folder.appendingPathComponent("mutated-\(index).h5").path
            try raw.write(to: path)
            assertCleanFailure(try train(arguments(run: "base") + ["--resume", path]), [path] + fragments)
        }
        // Under mpirun every rank reads the file and stops alike: a clean error, no hang.
        let twoRanks = try train(arguments(run: "base") + ["--resume", folder.appendingPathComponent("mutated-0.h5").path], ranks: 2)
        XCTAssertFalse(twoRanks.timedOut, twoRanks.transcript)
        XCTAssertNotEqual(twoRanks.status, 0, twoRanks.transcript)
        XCTAssertTrue(twoRanks.standardError.contains("/optimizer/first_moment/\(name) has shape [1]"), twoRanks.transcript)
        let flipped = folder.appendingPathComponent("flipped.h5").path
        try FileManager.default.copyItem(atPath: checkpoint("base", step: 2), toPath: flipped)
        try FileDamage.flipBit(flipped, at: 4000)
        assertCleanFailure(try train(arguments(run: "base") + ["--resume", flipped]), [flipped, "checksum mismatch"])
    }

    /// A kill between a checkpoint's rename and the pointer update: `--resume auto` on a finished
    /// run repairs `latest` (and removes temporary files left by killed writers).
    func testResumeAutoRepairsAStaleLatestAndRemovesStaleTemporaryFiles() throws {
        XCTAssertEqual(try train(arguments(run: "stale")).status, 0)
        let run = folder.appendingPathComponent("stale")
        try "step-00000002.h5\n".write(to: run.appendingPathComponent("latest"), atomically: true, encoding: .utf8)
        try Data(repeating: 7, count: 1000).write(to: run.appendingPathComponent(".step-00000006.h5.tmp-99999"))
        let result = try train(arguments(run: "stale") + ["--resume", "auto"])
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("repointed to step-00000004.h5"), result.transcript)
        XCTAssertTrue(result.standardOutput.contains("left by an interrupted checkpoint write"), result.transcript)
        XCTAssertEqual(try String(contentsOf: run.appendingPathComponent("latest"), encoding: .utf8), "step-00000004.h5\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent(".step-00000006.h5.tmp-99999").path))
    }

    func export(_ path: String, to output: String) throws -> ChildResult {
        try discern(["export", "--checkpoint", path, "--model", Self.model, "--output", output])
    }

    func testExportTakesTheRankFromTheTensorsAndRefusesBrokenAdapters() throws {
        XCTAssertEqual(try train(arguments(run: "lora", steps: 2)).status, 0)
        let good = try CheckpointFile.read(checkpoint("lora", step: 2))
        // "r" is the tensors' rank (4)...
        let output = folder.appendingPathComponent("exported").path
        let exported = try export(checkpoint("lora", step: 2), to: output)
        XCTAssertEqual(exported.status, 0, exported.transcript)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/lora/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["r"] as? Int, 4)
        // ...and a stored YAML that says another rank (8) marks a file `discern train` did not write:
        // refused, naming both, instead of exporting an adapter whose config and tensors disagree.
        var lying = RawCheckpoint(good)
        lying.configYAML = good.configYAML.replacingOccurrences(of: "rank: 4", with: "rank: 8")
        XCTAssertNotEqual(lying.configYAML, good.configYAML, "the stored YAML changed format: update this test")
        let lyingPath = folder.appendingPathComponent("lying.h5").path
        try lying.write(to: lyingPath)
        assertCleanFailure(try export(lyingPath, to: folder.appendingPathComponent("lying-export").path),
                           [lyingPath, "lora.rank 8 but the LoRA tensors have rank 4"])

        let a = try XCTUnwrap(good.parameters.firstIndex { $0.name.hasSuffix(".lora_A.weight") })
        let module = String(good.parameters[a].name.dropLast(".lora_A.weight".count))
        for (index, (raw, fragments)) in brokenAdapters(good, a: a, module: module).enumerated() {
            let path = folder.appendingPathComponent("broken-\(index).h5").path
            try raw.write(to: path)
            let target = folder.appendingPathComponent("broken-export-\(index)").path
            assertCleanFailure(try export(path, to: target), [path] + fragments)
            let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("broken-export-\(index)") }
            XCTAssertEqual(left, [], "a failed export leaves no output or temporary folder")
        }
    }

    /// Checkpoints that read back (consistent moments, valid checksum) but cannot be a PEFT adapter.
    func brokenAdapters(_ good: CheckpointState, a: Int, module: String) -> [(RawCheckpoint, [String])] {
        func mutated(_ change: (inout [NamedTensor]) -> Void) -> RawCheckpoint {
            var raw = RawCheckpoint(good)
            change(&raw.parameters); change(&raw.firstMoments); change(&raw.secondMoments)
            raw.names = raw.parameters.map(\.name)
            return raw
        }
        let transposed = mutated { list in list[a] = NamedTensor(name: list[a].name, shape: list[a].shape.reversed(), values: list[a].values) }
        let unpaired = mutated { list in list.removeAll { $0.name == module + ".lora_B.weight" } }
        let foreign = mutated { list in
            for index in list.indices where list[index].name.hasPrefix(module + ".") {
                list[index].name = list[index].name.replacingOccurrences(of: ".layers.0.", with: ".layers.97.")
                    .replacingOccurrences(of: ".layers.1.", with: ".layers.97.")
            }
        }
        var duplicated = RawCheckpoint(good)
        duplicated.names.append(good.parameters[a].name)
        var empty = RawCheckpoint(good)
        empty.names = []
        var nan = RawCheckpoint(good)
        nan.parameters[a].values[1] = .nan
        return [
            (transposed, ["\(module): lora_A is \(Array(good.parameters[a].shape.reversed()))"]),
            (unpaired, ["\(module).lora_A.weight has no partner"]),
            (foreign, ["which is not a linear layer of the base model"]),
            (duplicated, ["lists '\(good.parameters[a].name)' twice"]),
            (empty, ["parameter_names is empty"]),
            (nan, ["parameters/\(good.parameters[a].name) holds a non-finite value"]),
        ]
    }

    /// A real full disk under a single-process run: a clean error (exit 1, not a SIGSEGV in
    /// libhdf5's exit handler) and no temporary checkpoint left in the run directory.
    func testTrainingOnAFullDiskFailsCleanly() throws {
        let mount = try TmpfsMount(sizeKiB: 64)
        defer { mount.unmount() }
        var args = arguments(run: "unused", steps: 2)
        args[args.firstIndex(of: "--run-dir")! + 1] = mount.path + "/run"
        let result = try train(args)
        assertCleanFailure(result, ["writing the checkpoint failed"])
        let left = try FileManager.default.contentsOfDirectory(atPath: mount.path + "/run")
        XCTAssertEqual(left.filter { $0.contains(".tmp-") || $0.hasSuffix(".h5") }, [], "\(left)")
    }

    /// NaN in a base weight gives NaN embeddings: an error, not a file of NaN.
    func testANonFiniteEmbeddingIsAnError() throws {
        let copy = folder.appendingPathComponent("nan-model")
        try FileManager.default.copyItem(atPath: Self.model, toPath: copy.path)
        let weights = copy.appendingPathComponent("model.safetensors")
        let name = "language_model.model.norm.weight"
        var data = try Data(contentsOf: weights)
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        let entry = try XCTUnwrap(header[name] as? [String: Any], "fixture changed: no \(name)")
        XCTAssertEqual(entry["dtype"] as? String, "F32")
        let start = 8 + headerLength + ((entry["data_offsets"] as! [Int])[0])
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { data.replaceSubrange(start..<(start + 4), with: $0) }
        try data.write(to: weights)
        let embedder = try Embedder(directory: try ModelDirectory(path: copy.path))
        XCTAssertThrowsError(try embedder.embedTexts(["a red circle", "a blue square"])) { error in
            XCTAssertTrue("\(error)".contains("the embedding of caption 0 ('a red circle') is not finite"), "\(error)")
        }
    }
}

extension TrainCommandTests {
    /// One step whose update overflows (the loss before it was finite): no checkpoint of inf/NaN.
    func testNonFiniteParametersAreNeverSaved() throws {
        let result = try train(arguments(run: "overflow", steps: 1) + ["--set", "optimizer.lr=1e39", "--set", "optimizer.grad_clip=0"])
        assertCleanFailure(result, ["step 1: ", "holds a non-finite value", "so no checkpoint was written",
                                    "Last good checkpoint: none written yet (lower optimizer.lr"])
        let run = folder.appendingPathComponent("overflow").path
        let left = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        XCTAssertEqual(left.filter { $0.hasSuffix(".h5") || $0.contains(".tmp-") || $0 == "latest" }, [], "\(left)")
    }
}

extension TrainCommandTests {
    /// launch/train reads `latest` through discern_latest_checkpoint, which refuses a stale pointer.
    func testTheLaunchersRefuseAStaleLatestPointer() throws {
        XCTAssertEqual(try train(arguments(run: "launch")).status, 0)
        let run = folder.appendingPathComponent("launch").path
        let common = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../launch/common.sh").standardized.path
        let bash = try XCTUnwrap(findOnPath("bash"))
        func latest() throws -> ChildResult {
            try runChild(bash, ["-c", "source \"$0\" && discern_latest_checkpoint \"$1\"", common, run], environment: childEnvironment, timeout: 30)
        }
        var result = try latest()
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(result.standardOutput, run + "/step-00000004.h5\n")
        try "step-00000002.h5\n".write(toFile: run + "/latest", atomically: true, encoding: .utf8)
        result = try latest()
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.standardError.contains("names 'step-00000002.h5' but the newest checkpoint file is 'step-00000004.h5'"), result.transcript)
    }
}

extension TrainCommandTests {
    /// A zeroed page in a shard used to send libhdf5 into an infinite loop (a hung MPI job): now
    /// every rank stops with the shard named, well inside the timeout.
    func testAZeroedShardPageIsACleanErrorNotAHang() throws {
        let shard = folder.appendingPathComponent("data/train/shard-00001.h5").path
        try FileDamage.zeroPage(shard, at: 4096)
        let result = try train(arguments(run: "zeroed"), ranks: 2)
        XCTAssertFalse(result.timedOut, result.transcript)
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("\(shard): checksum mismatch: the file is damaged"), result.transcript)
    }
}
