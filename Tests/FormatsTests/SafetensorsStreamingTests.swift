import Formats
import Foundation
import XCTest

/// writeSafetensorsStreaming writes what SafetensorsWriter writes, byte for byte, from data
/// produced chunk by chunk, and refuses a producer that hands over the wrong number of bytes.
final class SafetensorsStreamingTests: XCTestCase {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-stream-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Mixed element sizes, so the data order (by size, then name) and alignment padding matter.
    let tensors: [(SafetensorsTensorDeclaration, [UInt8])] = [
        (SafetensorsTensorDeclaration(name: "b.weight", dtype: .F16, shape: [3, 5]), (0..<30).map { UInt8($0) }),
        (SafetensorsTensorDeclaration(name: "a.ids", dtype: .I64, shape: [2]), (0..<16).map { UInt8(100 + $0) }),
        (SafetensorsTensorDeclaration(name: "c.norm", dtype: .F32, shape: [7]), (0..<28).map { UInt8(200 - $0) }),
        (SafetensorsTensorDeclaration(name: "empty", dtype: .BF16, shape: [0, 4]), []),
    ]

    func testStreamedFileEqualsTheBufferedWritersByteForByte() throws {
        let directory = try temporaryDirectory()
        var writer = SafetensorsWriter(metadata: ["note": "x"])
        for (tensor, bytes) in tensors { try writer.add(tensor.name, dtype: tensor.dtype, shape: tensor.shape, bytes: bytes) }
        let buffered = directory.appendingPathComponent("buffered.safetensors").path
        try writer.write(to: buffered)

        let streamed = directory.appendingPathComponent("streamed.safetensors").path
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.0.name, $0.1) })
        var order: [String] = []
        try writeSafetensorsStreaming(to: streamed, tensors: tensors.map(\.0), metadata: ["note": "x"]) { tensor, write in
            order.append(tensor.name)
            let bytes = byName[tensor.name]!
            for start in stride(from: 0, to: bytes.count, by: 7) {   // odd chunks
                try bytes[start..<min(start + 7, bytes.count)].withUnsafeBytes { try write($0) }
            }
        }
        XCTAssertEqual(order, ["a.ids", "c.norm", "b.weight", "empty"], "by element size, then name")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: streamed)), try Data(contentsOf: URL(fileURLWithPath: buffered)))
        let file = try SafetensorsFile(path: streamed)
        XCTAssertEqual(Array(try file.rawBytes("b.weight")), byName["b.weight"])
    }

    func testWrongByteCountsAreErrorsAndLeaveNoFile() throws {
        let directory = try temporaryDirectory()
        let path = directory.appendingPathComponent("bad.safetensors").path
        for extra in [-1, 1] {
            XCTAssertThrowsError(try writeSafetensorsStreaming(to: path, tensors: tensors.map(\.0)) { tensor, write in
                let count = max(tensor.byteCount + (tensor.name == "c.norm" ? extra : 0), 0)
                try [UInt8](repeating: 0, count: count).withUnsafeBytes { try write($0) }
            }) { error in
                XCTAssertTrue("\(error)".contains("c.norm") && "\(error)".contains("bytes were produced"), "\(error)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [], "no file, no temporary left")
        }
    }
}
