#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A failed fsync or rename, with the system's reason.
package struct FileSyncError: Error, CustomStringConvertible, LocalizedError, Sendable {
    package let operation: String
    package let path: String
    package let systemMessage: String

    package var description: String { "cannot \(operation) '\(path)': \(systemMessage)" }
    package var errorDescription: String? { description }
}

/// Forces a file's data and metadata to stable storage.
package func fsyncFile(atPath path: String) throws {
    try fsyncPath(path, flags: O_RDONLY, what: "fsync file")
}

/// Forces a directory's entries (a rename or a new file inside it) to stable storage.
package func fsyncDirectory(atPath path: String) throws {
    try fsyncPath(path, flags: O_RDONLY | O_DIRECTORY, what: "fsync directory")
}

/// The last step of an atomic write: fsync the finished (closed) file at `temporaryPath`,
/// rename it over `finalPath`, then fsync the directory so the rename survives a crash.
/// Readers see either the old file or the complete new one, never a partial file.
/// Both paths must be on the same file system (put the temporary file next to the final one).
package func durableRename(from temporaryPath: String, to finalPath: String) throws {
    try fsyncFile(atPath: temporaryPath)
    guard rename(temporaryPath, finalPath) == 0 else {
        throw FileSyncError(operation: "rename to '\(finalPath)'", path: temporaryPath,
                            systemMessage: String(cString: strerror(errno)))
    }
    let directory = (finalPath as NSString).deletingLastPathComponent
    try fsyncDirectory(atPath: directory.isEmpty ? "." : directory)
}

private func fsyncPath(_ path: String, flags: Int32, what: String) throws {
    let descriptor = open(path, flags)
    guard descriptor >= 0 else {
        throw FileSyncError(operation: what, path: path, systemMessage: String(cString: strerror(errno)))
    }
    defer { _ = Foundation.close(descriptor) }
    #if canImport(Darwin)
    // On macOS fsync only reaches the drive's cache; F_FULLFSYNC reaches the platter.
    let status = fcntl(descriptor, F_FULLFSYNC)
    #else
    let status = fsync(descriptor)
    #endif
    guard status == 0 else {
        throw FileSyncError(operation: what, path: path, systemMessage: String(cString: strerror(errno)))
    }
}

/// Removes `OUTPUT.tmp-PID` files or folders that a killed earlier writer of `output` left, when
/// process PID no longer exists on this host (a live writer's temporary stays). Returns the
/// paths removed, for a note.
@discardableResult
package func removeStaleTemporaries(of output: String) -> [String] {
    let directory = (output as NSString).deletingLastPathComponent, prefix = (output as NSString).lastPathComponent + ".tmp-"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
    var removed: [String] = []
    for name in names where name.hasPrefix(prefix) {
        guard let pid = Int32(name.dropFirst(prefix.count)), pid > 0, pid != getpid(),
              kill(pid, 0) != 0 && errno == ESRCH else { continue }
        let path = (directory as NSString).appendingPathComponent(name)
        if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
    }
    return removed
}
