import Checkpointing
import Foundation
import TestSupport
import XCTest

/// `latest` repair, stale temporary files and a full disk (issue #14).
final class RunDirectoryTests: XCTestCase {
    var directory: String = ""

    override func setUpWithError() throws {
        directory = try makeScratchDirectory("discern-rundir")
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func state(step: Int, values: Int = 6) -> CheckpointState {
        let a = NamedTensor(name: "soft_prompts.text", shape: [values], values: (0..<values).map { Float($0) })
        return CheckpointState(parameters: [a], firstMoments: [a], secondMoments: [a], step: step, optimizerSteps: step, epoch: 0,
                               stepInEpoch: step, seed: 1, worldSize: 1, globalBatch: 2, configYAML: "", baseFingerprint: "f",
                               baseDescription: "d")
    }

    func pointer() throws -> String { try String(contentsOfFile: directory + "/latest", encoding: .utf8) }

    /// A kill between a checkpoint's rename and the pointer update leaves `latest` one behind.
    func testRepairPointsLatestAtTheNewestVerifiedCheckpoint() throws {
        let store = CheckpointStore(directory: directory, keep: 5)
        for step in [2, 4] { try store.save(state(step: step)) }
        try CheckpointFile.write(state(step: 6), to: directory + "/" + CheckpointStore.fileName(step: 6))
        XCTAssertEqual(try pointer(), "step-00000004.h5\n")
        var notes: [String] = []
        let newest = store.repair(note: { notes.append($0) }, warn: { XCTFail($0) })
        XCTAssertEqual(newest?.state.step, 6)
        XCTAssertEqual(try pointer(), "step-00000006.h5\n")
        XCTAssertTrue(notes.contains { $0.contains("repointed to step-00000006.h5") }, "\(notes)")
        // A damaged newest file is skipped and the pointer names the newest good one.
        try FileDamage.flipBit(directory + "/step-00000006.h5", at: 700)
        var warnings: [String] = []
        XCTAssertEqual(store.repair(note: { _ in }, warn: { warnings.append($0) })?.state.step, 4)
        XCTAssertEqual(try pointer(), "step-00000004.h5\n")
        XCTAssertTrue(warnings.first?.contains("step-00000006.h5") == true && warnings.first?.contains("checksum mismatch") == true, "\(warnings)")
        // Nothing good at all: the dangling pointer goes.
        for name in store.checkpointFiles() { try FileManager.default.removeItem(atPath: directory + "/" + name) }
        _ = store.repair(note: { _ in }, warn: { _ in })
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/latest"))
    }

    func testStaleTemporaryFilesAreRemovedAtStartWithANote() throws {
        let store = CheckpointStore(directory: directory, keep: 2)
        try store.save(state(step: 2))
        let stale = [".step-00000004.h5.tmp-12345", ".latest.tmp-777"]
        for name in stale { try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: directory + "/" + name)) }
        try Data().write(to: URL(fileURLWithPath: directory + "/notes.txt"))
        var notes: [String] = []
        _ = store.repair(note: { notes.append($0) }, warn: { XCTFail($0) })
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory).sorted(), ["latest", "notes.txt", "step-00000002.h5"])
        XCTAssertEqual(notes.filter { $0.contains("left by an interrupted checkpoint write") }.count, 2, "\(notes)")
    }

    /// A real full disk: a 1 MiB tmpfs. The error names the file and the reason, and nothing is
    /// left behind (no temporary file, no open HDF5 handle that would crash at exit).
    func testAFullDiskGivesAClearErrorAndLeavesNoTemporaryFile() throws {
        let mount = try TmpfsMount(sizeKiB: 1024)
        defer { mount.unmount() }
        let store = CheckpointStore(directory: mount.path + "/run", keep: 2)
        try store.save(state(step: 1))
        XCTAssertThrowsError(try store.save(state(step: 2, values: 600_000))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("step-00000002.h5: writing the checkpoint failed"), text)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: mount.path + "/run").sorted(), ["latest", "step-00000001.h5"])
        XCTAssertEqual(try pointer(in: mount.path + "/run"), "step-00000001.h5\n")
    }

    func pointer(in folder: String) throws -> String { try String(contentsOfFile: folder + "/latest", encoding: .utf8) }
}
