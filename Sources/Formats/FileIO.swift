#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only. Weights are used in place (no copy, the page cache is shared
/// between ranks on one node); the mapping lives exactly as long as this object.
final class MappedFile: @unchecked Sendable {  // immutable after init; the mapping is read-only
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws(FormatError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FormatError(file: path, "cannot open: \(systemErrorText())") }
        defer { close(descriptor) }  // the mapping stays valid after the descriptor is closed
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FormatError(file: path, "cannot stat: \(systemErrorText())") }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw FormatError(file: path, "is not a regular file") }
        let size = Int(status.st_size)
        if size == 0 {  // mmap rejects length 0; an empty file is still a (bad) file to report later
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw FormatError(file: path, "cannot memory-map \(size) bytes: \(systemErrorText())")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

func systemErrorText() -> String { String(cString: strerror(errno)) }

/// Drops the pages of a read-only file mapping inside `bytes` from this process's resident set
/// (madvise MADV_DONTNEED; a later read faults them in from the file again, so nothing is lost).
/// For a tensor copied out of the mapping once, e.g. converted to bf16 at load: otherwise the
/// file pages it touched stay resident beside the copy, and a 7B model would need twice its size.
/// Only whole pages inside the range are dropped, never a neighbour's.
package func releaseMappedPages(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = (Int(bitPattern: base) + page - 1) / page * page, end = (Int(bitPattern: base) + bytes.count) / page * page
    guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
    _ = madvise(pointer, end - start, MADV_DONTNEED)   // advice only: a refusal leaves the pages resident, nothing else
}

/// Reads a whole (small) file such as tokenizer.json or an index; errors name the path and the
/// system reason (never a raw Foundation error).
package func readFileBytes(_ path: String) throws(FormatError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FormatError(file: path, "cannot open: \(systemErrorText())") }
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            throw FormatError(file: path, "cannot read: \(systemErrorText())")
        }
        if count == 0 { return result }
        result.append(contentsOf: chunk[0..<count])
    }
}

func fileExists(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0
}

/// Writes a file so that readers see either the old file or the complete new one, never a torn
/// write: a temporary file in the same directory, fsync, rename over the target, fsync the directory.
func writeFileAtomically(_ path: String, _ produce: (_ write: (UnsafeRawBufferPointer) throws(FormatError) -> Void) throws(FormatError) -> Void) throws(FormatError) {
    let directory = parentDirectory(of: path)
    var template = Array("\(directory)/.\(baseName(of: path)).tmp-XXXXXX".utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard descriptor >= 0 else {
        throw FormatError(file: path, "cannot create a temporary file in \(directory): \(systemErrorText())")
    }
    let temporary = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    var finished = false
    defer {
        if !finished { close(descriptor); unlink(temporary) }
    }
    try produce { (chunk: UnsafeRawBufferPointer) throws(FormatError) in
        var offset = 0
        while offset < chunk.count {
            let written = write(descriptor, chunk.baseAddress! + offset, chunk.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FormatError(file: path, "cannot write: \(systemErrorText())")
            }
            offset += written
        }
    }
    guard fsync(descriptor) == 0 else { throw FormatError(file: path, "cannot fsync: \(systemErrorText())") }
    // mkstemp makes the file 0600; give it the usual permissions for a data file.
    fchmod(descriptor, 0o644)
    guard close(descriptor) == 0 else {
        finished = true
        unlink(temporary)
        throw FormatError(file: path, "cannot close: \(systemErrorText())")
    }
    finished = true
    guard rename(temporary, path) == 0 else {
        let reason = systemErrorText()
        unlink(temporary)
        throw FormatError(file: path, "cannot rename the temporary file into place: \(reason)")
    }
    let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
    if directoryDescriptor >= 0 {  // durability of the rename; failure here loses nothing already written
        fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}

func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

func baseName(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}
