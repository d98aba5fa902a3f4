import Datasets
import Foundation

/// Reads a text file line by line in 1 MiB blocks, so a manifest of millions of lines is never
/// held in memory. Lines are numbered from 1; "\n" and "\r\n" endings are both accepted.
struct LineReader {
    let path: String
    /// Size of the file, for progress.
    let totalBytes: Int
    /// Bytes consumed up to the end of the last returned line.
    private(set) var bytesRead = 0
    private(set) var lineNumber = 0
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    init(path: String) throws {
        self.path = path
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw DatasetError(file: path, exists ? "cannot be opened for reading; check its permissions"
                               : "does not exist (working directory: \(FileManager.default.currentDirectoryPath))")
        }
        self.handle = handle
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        totalBytes = size ?? 0
    }

    /// The next line's bytes without its ending, or nil at the end of the file.
    mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                return take(upTo: newline, consumed: newline + 1)
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                return take(upTo: buffer.count, consumed: buffer.count)
            }
            buffer.removeFirst(start)
            start = 0
            let block: Data?
            do { block = try handle.read(upToCount: 1 << 20) } catch {
                throw DatasetError(file: path, "read failed after \(bytesRead) bytes: \(error.localizedDescription)")
            }
            if let block, !block.isEmpty { buffer.append(contentsOf: block) } else { atEnd = true }
        }
    }

    private mutating func take(upTo end: Int, consumed: Int) -> ArraySlice<UInt8> {
        var line = buffer[start..<end]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        bytesRead += consumed - start
        start = consumed
        lineNumber += 1
        return line
    }

    func close() { try? handle.close() }
}
