import Foundation
import XCTest

/// A small tmpfs for real out-of-space tests (needs root: `mount -t tmpfs`). Skips the test with
/// the reason where mounting is not permitted.
package struct TmpfsMount {
    package let path: String

    package init(sizeKiB: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("discern-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard let mount = findOnPath("mount") else { throw XCTSkip("no mount command: cannot test a full disk") }
        let result = try runChild(mount, ["-t", "tmpfs", "-o", "size=\(sizeKiB)k", "tmpfs", path], environment: [:], timeout: 20)
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw XCTSkip("mounting a tmpfs is not permitted here (needs root), so the full-disk test is skipped: \(result.standardError)")
        }
    }

    package func unmount() {
        if let umount = findOnPath("umount") { _ = try? runChild(umount, [path], environment: [:], timeout: 20) }
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A new empty folder under the temporary directory, for one test's files.
package func makeScratchDirectory(_ prefix: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
