import Foundation
import HDF5Files
import XCTest

/// Values survive a write, close and reopen bit for bit; no tolerance is needed because HDF5
/// stores the exact bytes of native types.
final class DatasetRoundTripTests: TemporaryDirectoryTestCase {
    /// Writes `values` with `shape`, reopens the file and checks values, shape and element type.
    private func assertRoundTrip<T: H5NumericElement & Equatable>(
        _ values: [T], shape: [Int], layout: H5Layout = .contiguous,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let name = "\(T.self)-\(shape.map(String.init).joined(separator: "x")).h5"
        let writer = try H5File.create(path(name))
        try writer.write(values, shape: shape, to: "/data/values", layout: layout)
        try writer.close()

        let reader = try H5File.open(path(name))
        let dataset = try reader.openDataset("/data/values")
        XCTAssertEqual(try dataset.shape, shape, "shape of \(T.self) \(shape)", file: file, line: line)
        XCTAssertEqual(try dataset.elementType, T.h5ElementType, file: file, line: line)
        let array: H5Array<T> = try dataset.read()
        XCTAssertEqual(array.shape, shape, file: file, line: line)
        XCTAssertEqual(array.values, values, "values of \(T.self) \(shape)", file: file, line: line)
    }

    func testEveryNumericTypeRoundTripsInOneTwoAndThreeDimensions() throws {
        let shapes = [[7], [3, 5], [2, 3, 4]]
        for shape in shapes {
            let count = shape.reduce(1, *)
            try assertRoundTrip((0..<count).map { Float($0) * 0.37 - 1.5 }, shape: shape)
            try assertRoundTrip((0..<count).map { Double($0) / 3.0 - 2.0 }, shape: shape)
            try assertRoundTrip((0..<count).map { Int32($0) * -104_729 + Int32.max / 2 }, shape: shape)
            try assertRoundTrip((0..<count).map { Int64($0) * 1_000_000_007 - Int64.max / 3 }, shape: shape)
            try assertRoundTrip((0..<count).map { UInt8(truncatingIfNeeded: $0 * 37) }, shape: shape)
        }
    }

    func testExtremeValuesSurviveExactly() throws {
        try assertRoundTrip([Float.infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0],
                            shape: [5])
        try assertRoundTrip([Int64.min, Int64.max, 0], shape: [3])
        try assertRoundTrip([UInt8.min, UInt8.max], shape: [2])
    }

    func testNaNBitPatternSurvives() throws {
        let writer = try H5File.create(path("nan.h5"))
        try writer.write([Float.nan, Float(bitPattern: 0x7fc0_1234)], to: "x")
        try writer.close()
        let values = try H5File.open(path("nan.h5")).read("x", as: Float.self).values
        XCTAssertEqual(values.map(\.bitPattern), [Float.nan.bitPattern, 0x7fc0_1234])
    }

    func testZeroLengthDimensions() throws {
        try assertRoundTrip([Float](), shape: [0])
        try assertRoundTrip([Int64](), shape: [0, 4])
        try assertRoundTrip([UInt8](), shape: [3, 0, 2])
        try assertRoundTrip([Double](), shape: [0, 5], layout: .chunked(chunkShape: [16, 5], deflateLevel: 4))
        let file = try H5File.open(path("Int64-0x4.h5"))
        let rows = try file.openDataset("/data/values").readRows(0..<0, as: Int64.self)
        XCTAssertEqual(rows.shape, [0, 4])
    }

    func testScalarDataset() throws {
        try assertRoundTrip([Double.pi], shape: [])
    }

    func testStringsRoundTripIncludingUnicodeAndEmpty() throws {
        let strings = ["", "plain ascii", "caf\u{e9} \u{2014} na\u{ef}ve", "日本語のキャプション", "emoji 🐈‍⬛🚀",
                       "tab\tand\nnewline", String(repeating: "long ", count: 2000)]
        let writer = try H5File.create(path("strings.h5"))
        try writer.write(strings, to: "captions")
        try writer.write(["a", "b", "c", "d", "", "f"], shape: [2, 3], to: "grid/cells")
        try writer.close()

        let reader = try H5File.open(path("strings.h5"))
        XCTAssertEqual(try reader.openDataset("captions").elementType, .string)
        XCTAssertEqual(try reader.readStrings("captions"), H5Array(shape: [7], values: strings))
        XCTAssertEqual(try reader.readStrings("grid/cells").shape, [2, 3])
        XCTAssertEqual(try reader.openDataset("grid/cells").readStringRows(1..<2).values, ["d", "", "f"])
        XCTAssertEqual(try reader.openDataset("captions").readStringRows(3..<5).values, Array(strings[3..<5]))
    }

    func testEmptyStringDataset() throws {
        let writer = try H5File.create(path("nostrings.h5"))
        try writer.write([String](), to: "none")
        try writer.close()
        XCTAssertEqual(try H5File.open(path("nostrings.h5")).readStrings("none"), H5Array(shape: [0], values: []))
    }

    func testRowRangeReadsMatchTheSameRowsOfTheWholeArray() throws {
        // (10 samples, 4 x 3 x 2 uint8 "images"), like a data shard.
        let shape = [10, 4, 3, 2]
        let rowSize = 24
        let images = (0..<(10 * rowSize)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let writer = try H5File.create(path("shard.h5"))
        try writer.write(images, shape: shape, to: "images")
        try writer.close()

        let dataset = try H5File.open(path("shard.h5")).openDataset("images")
        for rows in [0..<10, 0..<1, 3..<7, 9..<10, 5..<5] {
            let slice = try dataset.readRows(rows, as: UInt8.self)
            XCTAssertEqual(slice.shape, [rows.count, 4, 3, 2], "shape of rows \(rows)")
            XCTAssertEqual(slice.values, Array(images[(rows.lowerBound * rowSize)..<(rows.upperBound * rowSize)]),
                           "values of rows \(rows)")
        }
        // The same read into caller memory, as a batching loop would do.
        var batch = [UInt8](repeating: 0, count: 2 * rowSize)
        try batch.withUnsafeMutableBufferPointer { try dataset.readRows(6..<8, into: $0) }
        XCTAssertEqual(batch, Array(images[(6 * rowSize)..<(8 * rowSize)]))
    }

    func testChunkedCompressedDatasetRoundTripsAndShrinks() throws {
        // Highly regular data: deflate must make it much smaller than its raw 4 x 100 x 64 bytes.
        let shape = [100, 64]
        let values = (0..<6400).map { Float($0 % 64) }
        let writer = try H5File.create(path("chunked.h5"))
        let written = try writer.write(values, shape: shape, to: "weights",
                                       layout: .chunked(chunkShape: [16, 64], deflateLevel: 6))
        XCTAssertEqual(try written.layout, .chunked(chunkShape: [16, 64], deflateLevel: 6))
        try writer.write(values, shape: shape, to: "plain")
        try writer.close()

        let reader = try H5File.open(path("chunked.h5"))
        let dataset = try reader.openDataset("weights")
        XCTAssertEqual(try dataset.read(Float.self).values, values)
        XCTAssertEqual(try dataset.readRows(15..<33, as: Float.self).values, Array(values[(15 * 64)..<(33 * 64)]))
        XCTAssertLessThan(try dataset.storageSize, values.count * MemoryLayout<Float>.size / 4,
                          "deflate should shrink this regular data more than 4x")
        XCTAssertEqual(try reader.openDataset("plain").layout, .contiguous)
        XCTAssertEqual(try reader.openDataset("plain").storageSize, values.count * 4)
    }

    func testChunkLargerThanDataIsClampedAndUncompressedChunkingWorks() throws {
        let writer = try H5File.create(path("clamp.h5"))
        let dataset = try writer.write([Int32](1...6), shape: [2, 3], to: "small",
                                       layout: .chunked(chunkShape: [64, 64]))
        XCTAssertEqual(try dataset.layout, .chunked(chunkShape: [2, 3], deflateLevel: nil))
        try writer.close()
        XCTAssertEqual(try H5File.open(path("clamp.h5")).read("small", as: Int32.self).values, [1, 2, 3, 4, 5, 6])
    }

    func testCreateThenWriteRowsIncrementally() throws {
        let writer = try H5File.create(path("incremental.h5"))
        let images = try writer.createDataset("shard/images", elementType: .uint8, shape: [5, 2],
                                              layout: .chunked(chunkShape: [2, 2], deflateLevel: 1))
        let captions = try writer.createDataset("shard/captions", elementType: .string, shape: [5])
        try images.writeRows([UInt8]([1, 2, 3, 4]), startingAt: 0)
        try images.writeRows([UInt8]([5, 6, 7, 8, 9, 10]), startingAt: 2)
        try captions.writeStringRows(["a", "b"], startingAt: 0)
        try captions.writeStringRows(["c", "d", "é"], startingAt: 2)
        try writer.close()

        let reader = try H5File.open(path("incremental.h5"))
        XCTAssertEqual(try reader.read("shard/images", as: UInt8.self).values, Array(1...10))
        XCTAssertEqual(try reader.readStrings("shard/captions").values, ["a", "b", "c", "d", "é"])
    }

    func testReadWholeDatasetIntoCallerMemory() throws {
        let writer = try H5File.create(path("into.h5"))
        try writer.write([Double](repeating: 2.5, count: 12), shape: [3, 4], to: "w")
        try writer.close()
        var destination = [Double](repeating: 0, count: 12)
        try destination.withUnsafeMutableBufferPointer { try H5File.open(path("into.h5")).openDataset("w").read(into: $0) }
        XCTAssertEqual(destination, [Double](repeating: 2.5, count: 12))
    }
}
