import Foundation
import HDF5Files
import XCTest

/// A test case with its own scratch directory, removed afterwards.
class TemporaryDirectoryTestCase: XCTestCase {
    private(set) var directory = URL(fileURLWithPath: "/nonexistent")

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("discern-hdf5-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs `body`, which must throw an `HDF5Error`, and returns it for inspection.
    func hdf5Error(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                   _ body: () throws -> Void) -> HDF5Error? {
        do {
            try body()
            XCTFail("\(what): expected an HDF5Error, nothing was thrown", file: file, line: line)
        } catch let error as HDF5Error {
            return error
        } catch {
            XCTFail("\(what): expected an HDF5Error, got \(error)", file: file, line: line)
        }
        return nil
    }
}
