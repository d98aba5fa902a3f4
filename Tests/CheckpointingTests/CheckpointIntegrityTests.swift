import Checkpointing
import Foundation
import HDF5Files
import TestSupport
import XCTest

/// Damaged and hostile checkpoints: each is refused with a message naming the file and what is
/// wrong, before any value reaches training (issue #14).
final class CheckpointIntegrityTests: XCTestCase {
    var directory: String = ""
    let lora = "language_model.model.layers.0.self_attn.q_proj.lora_A.weight"

    override func setUpWithError() throws {
        directory = try makeScratchDirectory("discern-integrity")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func state(step: Int = 4) -> CheckpointState {
        let a = NamedTensor(name: lora, shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let scale = NamedTensor(name: "logit_scale", shape: [1], values: [2.5])
        let big = NamedTensor(name: "soft_prompts.image", shape: [4, 512], values: (0..<2048).map { Float($0) / 2048 })
        func scaled(_ t: NamedTensor, _ f: Float) -> NamedTensor { NamedTensor(name: t.name, shape: t.shape, values: t.values.map { $0 * f }) }
        return CheckpointState(parameters: [a, scale, big], firstMoments: [a, scale, big].map { scaled($0, 0.1) },
                               secondMoments: [a, scale, big].map { scaled($0, 0.01) }, step: step, optimizerSteps: step,
                               epoch: 0, stepInEpoch: step, seed: 7, worldSize: 1, globalBatch: 8, configYAML: "steps: 10\n",
                               baseFingerprint: "abc", baseDescription: "test")
    }

    /// Writes `raw` and asserts that reading it fails with every fragment in the message.
    func assertRefused(_ raw: RawCheckpoint, _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let path = directory + "/mutated-\(UUID().uuidString.prefix(8)).h5"
        try raw.write(to: path)
        assertReadFails(path, fragments, file: file, line: line)
    }

    func assertReadFails(_ path: String, _ fragments: [String], allowUnsealed: Bool = false,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try CheckpointFile.read(path, warn: { _ in }, allowUnsealed: allowUnsealed), file: file, line: line) { error in
            let text = "\(error)"
            for fragment in [path] + fragments { XCTAssertTrue(text.contains(fragment), "missing '\(fragment)' in: \(text)", file: file, line: line) }
        }
    }

    func testAValidRawCheckpointReads() throws {
        let path = directory + "/valid.h5"
        try RawCheckpoint(state()).write(to: path)
        XCTAssertEqual(try CheckpointFile.read(path, warn: { XCTFail($0) }), state())
    }

    /// The build attributes are metadata: a file without them (written before they existed, as
    /// `RawCheckpoint` writes by default) and one from another build, with attributes this
    /// Discern does not know, both read as the same state.
    func testBuildAttributesAreMetadataOnly() throws {
        var other = RawCheckpoint(state())
        other.strings = ["build_version": "9.9.9", "build_commit": "0123abcd-modified", "build_date": "2030-01-01T00:00:00Z",
                         "build_configuration": "debug, shared Swift runtime", "build_compiler": "Swift version 7.0",
                         "build_something_new": "x"]
        let path = directory + "/other-build.h5"
        try other.write(to: path)
        XCTAssertEqual(try CheckpointFile.read(path, warn: { XCTFail($0) }), state())
    }

    func testMomentsOfTheWrongShapeAreRefusedNamingTheTensor() throws {
        var short = RawCheckpoint(state())
        short.firstMoments[0] = NamedTensor(name: lora, shape: [1], values: [0.5])
        try assertRefused(short, "/optimizer/first_moment/\(lora)", "shape [1]", "[2, 3]")
        var transposed = RawCheckpoint(state())
        transposed.secondMoments[0] = NamedTensor(name: lora, shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        try assertRefused(transposed, "/optimizer/second_moment/\(lora)", "shape [3, 2]")
    }

    func testNonFiniteValuesAndNegativeSecondMomentsAreRefused() throws {
        var nan = RawCheckpoint(state())
        nan.parameters[2].values[77] = .nan
        try assertRefused(nan, "parameters/soft_prompts.image", "non-finite", "index 77")
        var infinite = RawCheckpoint(state())
        infinite.firstMoments[1].values[0] = .infinity
        try assertRefused(infinite, "optimizer/first_moment/logit_scale", "non-finite")
        var negative = RawCheckpoint(state())
        negative.secondMoments[0].values[4] = -1e-3
        try assertRefused(negative, "optimizer/second_moment/\(lora)", "negative", "index 4")
    }

    func testAttributesOutOfRangeAreRefused() throws {
        for (key, value) in [("step", -1), ("optimizer_steps", -3), ("epoch", -1), ("step_in_epoch", -1), ("world_size", 0),
                             ("global_batch", 0)] as [(String, Int64)] {
            var raw = RawCheckpoint(state())
            raw.attributes[key] = value
            try assertRefused(raw, "\(key) is \(value)")
        }
    }

    func testBrokenNameListsAreRefused() throws {
        var missing = RawCheckpoint(state())
        missing.names.append("language_model.model.layers.0.self_attn.v_proj.lora_A.weight")
        try assertRefused(missing, "/parameters/language_model.model.layers.0.self_attn.v_proj.lora_A.weight is missing")
        var unlisted = RawCheckpoint(state())
        unlisted.names.removeLast()
        try assertRefused(unlisted, "/parameters/soft_prompts.image is not in parameter_names")
        var duplicated = RawCheckpoint(state())
        duplicated.names.append("logit_scale")
        try assertRefused(duplicated, "lists 'logit_scale' twice")
        var empty = RawCheckpoint(state())
        empty.names = []
        try assertRefused(empty, "parameter_names is empty")
        var blank = RawCheckpoint(state())
        blank.names.insert("", at: 1)
        try assertRefused(blank, "parameter_names line 2")
    }

    func testAFloat64TensorIsRefused() throws {
        // A format 1 file (no checksum to re-seal), with one tensor added as float64 afterwards.
        let path = directory + "/double.h5"
        var raw = RawCheckpoint(state())
        raw.parameters.removeFirst()
        raw.sealed = false
        raw.attributes["format_version"] = 1
        try raw.write(to: path)
        let file = try H5File.open(path, mode: .readWrite)
        try file.write([Double](repeating: 1, count: 6), shape: [2, 3], to: "/parameters/\(lora)")
        try file.close()
        assertReadFails(path, ["/parameters/\(lora) is float64, not float32"], allowUnsealed: true)
    }

    /// Format 2 also stores each tensor's CRC-32: a tensor rewritten in place (and the file re-sealed
    /// afterwards, as a careless tool could) is still caught, naming the tensor.
    func testPerTensorChecksumsAreVerified() throws {
        let path = directory + "/resealed.h5"
        try CheckpointFile.write(state(), to: path)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.write(contentsOf: Data(count: FileSeal.blockSize))
        try handle.close()
        let file = try H5File.open(path, mode: .readWrite)
        try file.openDataset("/optimizer/first_moment/logit_scale").setAttribute("crc32", .int64(12345))
        try file.close()
        try FileSeal.seal(path)
        assertReadFails(path, ["/optimizer/first_moment/logit_scale: checksum mismatch", "the file records 00003039"])
    }

    func testFlippedBitsAndZeroedPagesAreCaughtBeforeHDF5() throws {
        let good = directory + "/good.h5"
        try CheckpointFile.write(state(), to: good)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: good)[.size] as? Int)
        let damages: [(String) throws -> Void] = [{ try FileDamage.flipBit($0, at: 600) }, { try FileDamage.flipBit($0, at: size / 2) },
                                                  { try FileDamage.flipBit($0, at: -1, bit: 0x01) },
                                                  { try FileDamage.zeroPage($0, at: 4096) }, { try FileDamage.zeroPage($0, at: 512) }]
        for (index, damage) in damages.enumerated() {
            let copy = directory + "/damaged-\(index).h5"
            try FileManager.default.copyItem(atPath: good, toPath: copy)
            try damage(copy)
            assertReadFails(copy, ["checksum mismatch: the file is damaged", "use an earlier checkpoint"])
        }
        let header = directory + "/header.h5"
        try FileManager.default.copyItem(atPath: good, toPath: header)
        try FileDamage.flipBit(header, at: 20)
        assertReadFails(header, ["checksum block is unreadable"])
        let cut = directory + "/cut.h5"
        try Data(try Data(contentsOf: URL(fileURLWithPath: good)).prefix(size - 100)).write(to: URL(fileURLWithPath: cut))
        assertReadFails(cut, ["truncated or damaged"])
    }

    func testFormat1FilesReadWithAWarningAndUnsealedFormat2IsRefused() throws {
        var legacy = RawCheckpoint(state())
        legacy.sealed = false
        legacy.attributes["format_version"] = 1
        let path = directory + "/legacy.h5"
        try legacy.write(to: path)
        // Unverifiable bytes never reach libhdf5 unless the user says so (DISCERN_READ_UNSEALED=1).
        assertReadFails(path, ["carries no checksum seal", "DISCERN_READ_UNSEALED=1"])
        var warnings: [String] = []
        XCTAssertEqual(try CheckpointFile.read(path, warn: { warnings.append($0) }, allowUnsealed: true), state())
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("format 1") && warnings[0].contains(path), "\(warnings)")
        var unsealed = RawCheckpoint(state())
        unsealed.sealed = false
        let unsealedPath = directory + "/unsealed-format-2.h5"
        try unsealed.write(to: unsealedPath)
        assertReadFails(unsealedPath, ["carries a checksum but this file has none"], allowUnsealed: true)
    }

    func testNothingNonFiniteIsWritten() throws {
        var bad = state()
        bad.secondMoments[2].values[5] = .nan
        let path = directory + "/step-00000004.h5"
        XCTAssertThrowsError(try CheckpointFile.write(bad, to: path)) { error in
            XCTAssertTrue("\(error)".contains("optimizer/second_moment/soft_prompts.image holds a non-finite value"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [], "no file, no temporary file")
    }
}
