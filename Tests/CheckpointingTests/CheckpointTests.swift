import Checkpointing
import Foundation
import HDF5Files
import Provenance
import XCTest

final class CheckpointTests: XCTestCase {
    var directory: String = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("discern-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func state(step: Int) -> CheckpointState {
        let a = NamedTensor(name: "language_model.model.layers.0.self_attn.q_proj.lora_A.weight", shape: [2, 3],
                            values: [1, 2, 3, 4, 5, Float(step)])
        let s = NamedTensor(name: "soft_prompts.image", shape: [1, 2], values: [-0.5, 0.25])
        let scale = NamedTensor(name: "logit_scale", shape: [1], values: [2.5])
        func scaled(_ t: NamedTensor, _ f: Float) -> NamedTensor { NamedTensor(name: t.name, shape: t.shape, values: t.values.map { $0 * f }) }
        // A second moment is a mean of squares: the reader refuses negative ones.
        func squared(_ t: NamedTensor, _ f: Float) -> NamedTensor { NamedTensor(name: t.name, shape: t.shape, values: t.values.map { $0 * $0 * f }) }
        return CheckpointState(parameters: [a, s, scale], firstMoments: [a, s, scale].map { scaled($0, 0.1) },
                               secondMoments: [a, s, scale].map { squared($0, 0.01) }, step: step, optimizerSteps: step,
                               epoch: 3, stepInEpoch: 7, seed: UInt64.max - 5, worldSize: 2, globalBatch: 64,
                               configYAML: "steps: 10\nprompts:\n  image: \"<image>\\nSay:\"\n",
                               baseFingerprint: "abc123", baseDescription: "llava: vision 32x2, text 48x2")
    }

    func testRoundTripOfEveryField() throws {
        let path = directory + "/one.h5"
        try CheckpointFile.write(state(step: 12), to: path)
        XCTAssertEqual(try CheckpointFile.read(path), state(step: 12))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("tmp") }
        XCTAssertEqual(leftovers, [], "no temporary file may remain")
    }

    /// A result traces back to its binary: every checkpoint records the build that wrote it.
    func testEveryCheckpointNamesTheBinaryThatWroteIt() throws {
        let path = directory + "/built.h5"
        try CheckpointFile.write(state(step: 3), to: path)
        let file = try H5File.open(path)
        defer { try? file.close() }
        let expected = BuildInfo.current.attributes
        XCTAssertEqual(expected.map(\.name), ["build_version", "build_commit", "build_date", "build_configuration", "build_compiler"])
        for (name, value) in expected { XCTAssertEqual(try file.stringAttribute(name), value, name) }
        XCTAssertTrue(try file.stringAttribute("build_configuration").hasSuffix("Swift runtime"))
    }

    func testStoreKeepsTheLastKAndPointsAtTheNewest() throws {
        let store = CheckpointStore(directory: directory, keep: 2)
        for step in [10, 20, 30] { try store.save(state(step: step)) }
        XCTAssertEqual(store.checkpointFiles(), ["step-00000020.h5", "step-00000030.h5"])
        XCTAssertEqual(try String(contentsOfFile: directory + "/latest", encoding: .utf8), "step-00000030.h5\n")
        XCTAssertEqual(store.latestComplete(warn: { XCTFail($0) })?.state.step, 30)
    }

    /// A file killed mid-write (truncated) and a corrupt one are skipped with a warning naming
    /// them; the newest good checkpoint is used.
    func testAutoSkipsTruncatedAndCorruptCheckpoints() throws {
        let store = CheckpointStore(directory: directory, keep: 5)
        try store.save(state(step: 10))
        let good = try Data(contentsOf: URL(fileURLWithPath: directory + "/step-00000010.h5"))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: directory + "/step-00000020.h5"))
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: directory + "/step-00000030.h5"))
        var warnings: [String] = []
        let found = store.latestComplete { warnings.append($0) }
        XCTAssertEqual(found?.state.step, 10)
        XCTAssertEqual(warnings.count, 2, "\(warnings)")
        XCTAssertTrue(warnings[0].contains("step-00000030.h5"), warnings[0])
        XCTAssertTrue(warnings[1].contains("step-00000020.h5"), warnings[1])
    }

    func testNoCheckpointAndMissingFile() {
        XCTAssertNil(CheckpointStore(directory: directory, keep: 1).latestComplete(warn: { _ in }))
        XCTAssertThrowsError(try CheckpointFile.read(directory + "/nope.h5")) { error in
            XCTAssertTrue("\(error)".contains("nope.h5: no such checkpoint"), "\(error)")
        }
    }
}
