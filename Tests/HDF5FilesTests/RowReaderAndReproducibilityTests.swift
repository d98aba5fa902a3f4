import Foundation
import HDF5Files
import XCTest

final class RowReaderAndReproducibilityTests: TemporaryDirectoryTestCase {
    /// Writes the same small file; `tracksObjectTimes` decides whether HDF5 stamps times.
    private func writeFixedContent(_ name: String, tracksObjectTimes: Bool) throws -> Data {
        let file = try H5File.create(path(name), tracksObjectTimes: tracksObjectTimes)
        try file.write([Float](repeating: 1.5, count: 12), shape: [3, 4], to: "a/b/weights")
        try file.write(["x", "y"], to: "names")
        try file.createGroup("empty/child")
        try file.setAttribute("version", .int64(1))
        try file.close()
        return try Data(contentsOf: URL(fileURLWithPath: path(name)))
    }

    func testFilesWithoutObjectTimesAreByteIdentical() throws {
        let trackedFirst = try writeFixedContent("tracked1.h5", tracksObjectTimes: true)
        let plainFirst = try writeFixedContent("plain1.h5", tracksObjectTimes: false)
        // HDF5 time stamps have one-second resolution: wait past a tick so tracked files differ.
        Thread.sleep(forTimeInterval: 1.1)
        let trackedSecond = try writeFixedContent("tracked2.h5", tracksObjectTimes: true)
        let plainSecond = try writeFixedContent("plain2.h5", tracksObjectTimes: false)
        XCTAssertNotEqual(trackedFirst, trackedSecond, "control: time-stamped files should differ after a second")
        XCTAssertEqual(plainFirst, plainSecond, "files without object times must be byte-identical")
        // Intermediate groups were created too, and the content reads back.
        let file = try H5File.open(path("plain2.h5"))
        XCTAssertEqual(try file.read("a/b/weights", as: Float.self).values, [Float](repeating: 1.5, count: 12))
        XCTAssertEqual(try file.objectKind("empty/child"), .group)
    }

    func testExtendibleDatasetGrowsRowByRow() throws {
        let file = try H5File.create(path("grow.h5"))
        let rows = try file.createDataset("rows", elementType: .uint8, shape: [0, 2, 3],
                                          layout: .chunked(chunkShape: [1, 2, 3], deflateLevel: 1))
        for row in 0..<5 {
            try rows.resizeRows(to: row + 1)
            try rows.writeRows([UInt8](repeating: UInt8(row), count: 6), startingAt: row)
        }
        XCTAssertEqual(try rows.shape, [5, 2, 3])
        let fixed = try file.write([UInt8](repeating: 0, count: 4), to: "fixed")
        XCTAssertThrowsError(try fixed.resizeRows(to: 8), "a contiguous dataset cannot grow") { error in
            XCTAssertTrue("\(error)".contains("extendible"), "\(error)")
        }
        try file.close()
    }

    func testRowReaderReadsRangesIntoCallerMemory() throws {
        let file = try H5File.create(path("reader.h5"))
        let values = (0..<60).map { UInt8($0) }
        try file.write(values, shape: [10, 2, 3], to: "data", layout: .chunked(chunkShape: [1, 2, 3]))
        let reader = try file.openDataset("data").rowReader(as: UInt8.self)
        XCTAssertEqual(reader.rowCount, 10)
        XCTAssertEqual(reader.elementsPerRow, 6)
        var destination = [UInt8](repeating: 255, count: 18)
        try destination.withUnsafeMutableBufferPointer { try reader.readRows(7..<10, into: $0.baseAddress!) }
        XCTAssertEqual(destination, Array(values[42..<60]))
        try destination.withUnsafeMutableBufferPointer { try reader.readRows(0..<1, into: $0.baseAddress! + 6) }
        XCTAssertEqual(Array(destination[6..<12]), Array(values[0..<6]))
        XCTAssertThrowsError(try destination.withUnsafeMutableBufferPointer {
            try reader.readRows(9..<11, into: $0.baseAddress!)
        }) { error in XCTAssertTrue("\(error)".contains("outside"), "\(error)") }
        XCTAssertThrowsError(try file.openDataset("data").rowReader(as: Float.self)) { error in
            XCTAssertEqual((error as? HDF5Error)?.kind, .typeMismatch)
        }
        try file.close()
        XCTAssertThrowsError(try destination.withUnsafeMutableBufferPointer {
            try reader.readRows(0..<1, into: $0.baseAddress!)
        }) { error in XCTAssertEqual((error as? HDF5Error)?.kind, .fileClosed) }
    }
}
