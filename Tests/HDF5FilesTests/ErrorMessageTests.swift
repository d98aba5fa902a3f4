import Foundation
import HDF5Files
import XCTest

/// Every user-caused failure is an HDF5Error whose text names the file, the object and the
/// cause, with HDF5's own messages attached where the library reported the failure.
final class ErrorMessageTests: TemporaryDirectoryTestCase {
    private func assertMentions(_ error: HDF5Error?, _ fragments: [String],
                                file: StaticString = #filePath, line: UInt = #line) {
        guard let error else { return }
        for fragment in fragments {
            XCTAssertTrue(error.description.localizedCaseInsensitiveContains(fragment),
                          "'\(fragment)' missing from: \(error.description)", file: file, line: line)
        }
    }

    /// A real file with enough data that cutting it in half removes data, not just the header.
    private func writeSampleFile(_ name: String) throws -> String {
        let file = try H5File.create(path(name))
        try file.write([Float](repeating: 1.5, count: 4096), shape: [64, 64], to: "weights")
        try file.setAttribute("step", .int64(10))
        try file.close()
        return path(name)
    }

    func testMissingFileSaysItDoesNotExist() {
        let missing = path("no-such-file.h5")
        let error = hdf5Error("missing file") { _ = try H5File.open(missing) }
        XCTAssertEqual(error?.kind, .fileNotFound)
        assertMentions(error, [missing, "does not exist"])
    }

    func testTruncatedFileIsReportedAsTruncatedWithHDF5Text() throws {
        let file = try writeSampleFile("truncated.h5")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        XCTAssertEqual(truncate(file, off_t(size / 2)), 0, "truncate(2) failed")

        let error = hdf5Error("truncated file") { _ = try H5File.open(file) }
        XCTAssertEqual(error?.kind, .corruptFile)
        assertMentions(error, [file, "truncated"])
        XCTAssertFalse(error?.libraryMessages.isEmpty ?? true, "HDF5's own messages should be attached")
    }

    func testEmptyFileIsReportedAsTruncated() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: path("empty.h5"), contents: Data()))
        let error = hdf5Error("empty file") { _ = try H5File.open(path("empty.h5")) }
        XCTAssertEqual(error?.kind, .corruptFile)
        assertMentions(error, [path("empty.h5"), "truncated"])
    }

    func testNotAnHDF5FileSaysSoWithHDF5Text() throws {
        let text = path("notes.h5")
        try Data(String(repeating: "these are not the bytes you are looking for\n", count: 50).utf8)
            .write(to: URL(fileURLWithPath: text))
        let error = hdf5Error("text file") { _ = try H5File.open(text) }
        XCTAssertEqual(error?.kind, .notHDF5)
        assertMentions(error, [text, "not an HDF5 file", "signature"])
    }

    func testDirectoryIsNotAFile() {
        let error = hdf5Error("directory") { _ = try H5File.open(directory.path) }
        XCTAssertEqual(error?.kind, .invalidArgument)
        assertMentions(error, ["directory"])
    }

    func testMissingDatasetNamesTheObjectPathAndNearbyMembers() throws {
        let file = try H5File.open(try writeSampleFile("sample.h5"))
        let error = hdf5Error("missing dataset") { _ = try file.openDataset("/model/weights") }
        XCTAssertEqual(error?.kind, .objectNotFound)
        XCTAssertEqual(error?.objectPath, "/model/weights")
        assertMentions(error, [path("sample.h5"), "'/model/weights'", "does not exist", "weights"])

        let wrongKind = hdf5Error("group as dataset") { _ = try file.openGroup("weights") }
        XCTAssertEqual(wrongKind?.kind, .wrongObjectKind)
        assertMentions(wrongKind, ["'/weights'", "dataset"])
    }

    func testWrongElementTypeNamesBothTypes() throws {
        let file = try H5File.open(try writeSampleFile("typed.h5"))
        let dataset = try file.openDataset("weights")
        let error = hdf5Error("float32 read as Double") { _ = try dataset.read(Double.self) }
        XCTAssertEqual(error?.kind, .typeMismatch)
        assertMentions(error, ["'/weights'", "float32", "float64", "Float"])
        let rows = hdf5Error("float32 rows as Int32") { _ = try dataset.readRows(0..<2, as: Int32.self) }
        XCTAssertEqual(rows?.kind, .typeMismatch)
        let strings = hdf5Error("float32 as strings") { _ = try dataset.readStrings() }
        XCTAssertEqual(strings?.kind, .typeMismatch)
    }

    func testBadRowRangesShapesAndDuplicates() throws {
        let file = try H5File.create(path("bad.h5"))
        let dataset = try file.write([Int32](repeating: 0, count: 6), shape: [3, 2], to: "x")
        let outside = hdf5Error("rows past the end") { _ = try dataset.readRows(2..<4, as: Int32.self) }
        XCTAssertEqual(outside?.kind, .invalidArgument)
        assertMentions(outside, ["2..<4", "3 rows"])

        let mismatch = hdf5Error("values vs shape") { try file.write([Float](repeating: 0, count: 5), shape: [2, 3], to: "y") }
        XCTAssertEqual(mismatch?.kind, .shapeMismatch)
        XCTAssertFalse(try file.exists("y"), "a failed write must not leave a dataset behind")

        let duplicate = hdf5Error("existing name") { try file.write([Int32(1)], to: "x") }
        XCTAssertEqual(duplicate?.kind, .objectExists)
        assertMentions(duplicate, ["'/x'", "already exists"])

        let chunk = hdf5Error("chunk rank") { try file.write([Float](repeating: 0, count: 4), to: "z",
                                                             layout: .chunked(chunkShape: [2, 2])) }
        XCTAssertEqual(chunk?.kind, .invalidArgument)

        var small = [Int32](repeating: 0, count: 3)
        let destination = hdf5Error("small buffer") {
            try small.withUnsafeMutableBufferPointer { try dataset.readRows(0..<2, into: $0) }
        }
        XCTAssertEqual(destination?.kind, .shapeMismatch)

        let unnamed = hdf5Error("empty path") { try file.write([Int32(1)], to: "") }
        XCTAssertEqual(unnamed?.kind, .invalidArgument)
        XCTAssertEqual(hdf5Error("root as group") { try file.createGroup("/") }?.kind, .invalidArgument)

        let nul = hdf5Error("NUL in string") { try file.write(["a\u{0}b"], to: "s") }
        XCTAssertEqual(nul?.kind, .invalidArgument)
    }

    func testExclusiveCreateRefusesAnExistingFileAndReadOnlyRefusesWrites() throws {
        let existing = try writeSampleFile("exists.h5")
        let error = hdf5Error("exclusive create") { _ = try H5File.create(existing, mode: .exclusive) }
        XCTAssertEqual(error?.kind, .fileExists)
        assertMentions(error, [existing, "already exists"])

        let missingDirectory = hdf5Error("no directory") { _ = try H5File.create(path("no/such/dir/x.h5")) }
        XCTAssertEqual(missingDirectory?.kind, .fileNotFound)

        let readOnly = try H5File.open(existing)
        let write = hdf5Error("write to read-only") { try readOnly.write([Float(1)], to: "new") }
        XCTAssertEqual(write?.kind, .readOnly)
        assertMentions(write, ["'/new'", "read-only", ".readWrite"])
        let attribute = hdf5Error("attribute on read-only") { try readOnly.setAttribute("a", .double(1)) }
        XCTAssertEqual(attribute?.kind, .readOnly)
    }

    func testCloseReleasesEverythingAndIsSafeTwice() throws {
        let file = try H5File.create(path("closing.h5"))
        let dataset = try file.write([Float](repeating: 3, count: 8), to: "kept/alive")
        try file.close()
        try file.close()
        XCTAssertFalse(file.isOpen)
        let afterClose = hdf5Error("dataset after close") { _ = try dataset.read(Float.self) }
        XCTAssertEqual(afterClose?.kind, .fileClosed)
        // The file is complete on disk although `dataset` was still referenced at close.
        let reader = try H5File.open(path("closing.h5"), mode: .readWrite)
        XCTAssertEqual(try reader.read("kept/alive", as: Float.self).values, [Float](repeating: 3, count: 8))
        try reader.write([Int64(1)], to: "added")
        try reader.flush()
        try reader.close()
        XCTAssertEqual(try H5File.open(path("closing.h5")).memberNames(), ["added", "kept"])
        // A dataset keeps its file open after the H5File object itself is gone.
        let orphan = try H5File.open(path("closing.h5")).openDataset("kept/alive")
        XCTAssertEqual(try orphan.read(Float.self).shape, [8])
    }
}
