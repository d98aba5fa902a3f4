import Foundation
import HDF5Files
import XCTest

final class DurableWriteTests: TemporaryDirectoryTestCase {
    /// The checkpoint pattern: write a temporary file, close, durably rename over the old one.
    func testAtomicReplaceOfAnExistingCheckpoint() throws {
        let final = path("checkpoint.h5")
        for step in [Int64(1), Int64(2)] {
            let temporary = path("checkpoint.h5.tmp")
            let file = try H5File.create(temporary, mode: .exclusive)
            try file.setAttribute("step", .int64(step))
            try file.write([Double](repeating: Double(step), count: 16), shape: [4, 4], to: "params/w")
            try file.close()
            try durableRename(from: temporary, to: final)
            XCTAssertFalse(FileManager.default.fileExists(atPath: temporary))
        }
        let reader = try H5File.open(final)
        XCTAssertEqual(try reader.int64Attribute("step"), 2)
        XCTAssertEqual(try reader.read("params/w", as: Double.self).values, [Double](repeating: 2, count: 16))
    }

    /// A killed writer's `OUT.tmp-PID` goes at the next start; a live writer's (and this
    /// process's own) stays, and so does anything that only looks alike.
    func testStaleTemporariesOfDeadWritersAreRemoved() throws {
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let running = Process()
        running.executableURL = URL(fileURLWithPath: "/bin/sleep")
        running.arguments = ["30"]
        try running.run()
        defer { running.terminate() }
        let output = path("export")
        let dead = output + ".tmp-\(finished.processIdentifier)", live = output + ".tmp-\(running.processIdentifier)"
        let own = output + ".tmp-\(getpid())", unrelated = output + ".tmp-notapid"
        for folder in [dead, live, own, unrelated] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        XCTAssertEqual(removeStaleTemporaries(of: output), [dead])
        for kept in [live, own, unrelated] { XCTAssertTrue(FileManager.default.fileExists(atPath: kept), kept) }
    }

    func testSyncHelpersReportMissingPaths() throws {
        try fsyncDirectory(atPath: directory.path)
        XCTAssertThrowsError(try fsyncFile(atPath: path("absent"))) { error in
            XCTAssertTrue("\(error)".contains(self.path("absent")), "\(error)")
        }
        XCTAssertThrowsError(try durableRename(from: path("absent"), to: path("x")))
    }

    /// Files must be standard HDF5 that other tools read. Runs only where h5dump is installed
    /// (Debian package hdf5-tools); the Python/h5py side is checked by the interop tests.
    func testH5DumpReadsOurFile() throws {
        let candidates = ["/usr/bin/h5dump", "/usr/local/bin/h5dump", "/opt/homebrew/bin/h5dump"]
        guard let h5dump = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw XCTSkip("h5dump not installed")
        }
        let file = try H5File.create(path("dump.h5"))
        try file.write([Int32](0..<6), shape: [2, 3], to: "group/ints",
                       layout: .chunked(chunkShape: [1, 3], deflateLevel: 5))
        try file.write(["héllo", ""], to: "group/strings")
        try file.setAttribute("note", .string("ok"))
        try file.close()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: h5dump)
        process.arguments = ["-p", path("dump.h5")]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, output)
        for fragment in ["H5T_STD_I32LE", "DATASPACE  SIMPLE { ( 2, 3 ) / ( 2, 3 ) }", "DEFLATE", "CHUNKED ( 1, 3 )",
                         "H5T_CSET_UTF8", "\"ok\"", "0, 1, 2"] {
            XCTAssertTrue(output.contains(fragment), "h5dump output lacks '\(fragment)':\n\(output)")
        }
    }
}
