import Foundation
import XCTest

/// Committed fixtures (made by the scripts in Tests/Reference) and scratch files for one test.
enum FixtureFiles {
    /// Found through this source file's location, so the tests need no resource bundle.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path(name))) }
}

/// A fresh directory removed when the test ends.
func makeScratchDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-formats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}
