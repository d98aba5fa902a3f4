#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib
import Foundation

/// A CRC-32 seal over an HDF5 file, kept in the file's 512-byte user block (HDF5 and h5py skip
/// the block, so sealed files stay ordinary HDF5 files). libhdf5 is not robust against damaged
/// bytes (a zeroed page can make it loop forever, a flipped bit can crash it), so a reader
/// verifies the seal with plain file I/O before the file ever reaches `H5Fopen`.
///
/// The block starts with one line of ASCII, zero padded:
///   `discern-seal 1 bytes <payload length> crc32 <8 hex digits> check <8 hex digits>\n`
/// The payload is everything after the block; `check` is the CRC-32 of the line up to " check",
/// so a damaged seal is told apart from a damaged payload.
package enum FileSeal {
    /// The user block size: what `H5File.create(..., userBlock: true)` reserves.
    package static let blockSize = 512
    static let magic = "discern-seal 1 "

    package struct Seal: Sendable, Equatable {
        /// Bytes after the user block.
        package let payloadBytes: Int
        package let crc32: UInt32
        /// The whole file's size, as dataset.json records it.
        package var fileBytes: Int { payloadBytes + FileSeal.blockSize }
        /// The checksum as dataset.json records it: 8 lowercase hex digits.
        package var crc32Hex: String { String(format: "%08x", crc32) }
    }

    package enum Status: Sendable, Equatable {
        case sealed(Seal)
        /// A plain HDF5 file (an HDF5 signature, no seal): written before seals existed, or by another tool.
        case unsealed
        /// Neither a seal nor an HDF5 signature anywhere libhdf5 looks: libhdf5 refuses such a
        /// file at its signature search, so `H5File.open` may diagnose it (empty, not HDF5).
        case notHDF5
    }

    /// Computes the checksum of a closed file created with a user block and writes the seal
    /// into the block. Call it before the durable rename (which fsyncs the file).
    @discardableResult
    package static func seal(_ path: String) throws -> Seal {
        let descriptor = open(path, O_RDWR)
        guard descriptor >= 0 else { throw failure(path, "cannot open it to seal it: \(systemError())") }
        defer { _ = close(descriptor) }
        var header = [UInt8](repeating: 0, count: blockSize)
        guard try readFully(descriptor, into: &header, at: 0, path) == blockSize, header.allSatisfy({ $0 == 0 }) else {
            throw failure(path, "has no empty 512-byte user block to hold its checksum (create it with userBlock: true)")
        }
        let (crc, bytes) = try checksum(descriptor, from: blockSize, path)
        let seal = Seal(payloadBytes: bytes, crc32: crc)
        let line = Array(sealLine(seal).utf8)
        let written = line.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == line.count else { throw failure(path, "cannot write its checksum: \(systemError())") }
        return seal
    }

    /// The environment variable that lets a user hand a file without a seal (written before
    /// checksums existed) to libhdf5 unverified. Off by default: libhdf5 can crash or loop
    /// forever on damaged bytes, so unverified bytes reach it only when the user says so.
    package static let unsealedVariable = "DISCERN_READ_UNSEALED"

    /// True when `DISCERN_READ_UNSEALED=1` is set.
    package static var unsealedReadingAllowed: Bool { ProcessInfo.processInfo.environment[unsealedVariable] == "1" }

    /// Checks the seal against the bytes. Throws a message naming the file and ending in
    /// `remedy` when the file is damaged; `.unsealed` for a plain HDF5 file.
    package static func verify(_ path: String, remedy: String) throws -> Status {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw failure(path, "cannot be opened: \(systemError())") }
        defer { _ = close(descriptor) }
        var header = [UInt8](repeating: 0, count: blockSize)
        let headerBytes = try readFully(descriptor, into: &header, at: 0, path)
        if headerBytes >= 8, Array(header.prefix(8)) == hdf5Signature { return .unsealed }
        guard headerBytes == blockSize, let seal = parse(header) else {
            // Discern's layout (a signature right after the block) or a seal line: a damaged seal.
            if Array(header.prefix(magic.utf8.count)) == Array(magic.utf8) || H5File.signatureOffset(path) == UInt64(blockSize) {
                throw failure(path, "checksum mismatch: the file is damaged (its checksum block is unreadable); \(remedy)")
            }
            return H5File.signatureOffset(path) == nil ? .notHDF5 : .unsealed
        }
        let (crc, bytes) = try checksum(descriptor, from: blockSize, path)
        guard bytes == seal.payloadBytes else {
            throw failure(path, "is \(bytes + blockSize) bytes but was written with \(seal.fileBytes): it is truncated "
                          + "or damaged; \(remedy)")
        }
        guard crc == seal.crc32 else {
            throw failure(path, "checksum mismatch: the file is damaged (crc32 \(String(format: "%08x", crc)), "
                          + "written as \(seal.crc32Hex)); \(remedy)")
        }
        return .sealed(seal)
    }

    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

    static func sealLine(_ seal: Seal) -> String {
        let body = "\(magic)bytes \(seal.payloadBytes) crc32 \(seal.crc32Hex)"
        return body + " check " + String(format: "%08x", crc(Array(body.utf8))) + "\n"
    }

    /// The seal in a header block, or nil when the block is not exactly a valid seal line.
    static func parse(_ header: [UInt8]) -> Seal? {
        guard let end = header.firstIndex(of: UInt8(ascii: "\n")), header[(end + 1)...].allSatisfy({ $0 == 0 }),
              let line = String(bytes: header[..<end], encoding: .ascii), line.hasPrefix(magic) else { return nil }
        let fields = line.dropFirst(magic.count).split(separator: " ")
        guard fields.count == 6, fields[0] == "bytes", fields[2] == "crc32", fields[4] == "check",
              let bytes = Int(fields[1]), bytes >= 0, fields[3].count == 8, let crc = UInt32(fields[3], radix: 16) else { return nil }
        let seal = Seal(payloadBytes: bytes, crc32: crc)
        return sealLine(seal) == line + "\n" ? seal : nil
    }

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// zlib's CRC-32 of a buffer (checkpoints also store one per tensor).
    package static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = crc32(0, nil, 0), offset = 0
        while offset < bytes.count {   // zlib takes 32-bit lengths
            let count = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(count))
            offset += count
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    /// CRC-32 and length of everything from `offset` to the end, read in 1 MiB pieces.
    private static func checksum(_ descriptor: Int32, from offset: Int, _ path: String) throws -> (UInt32, Int) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var crc: uLong = crc32(0, nil, 0), position = offset
        while true {
            let count = try readFully(descriptor, into: &buffer, at: position, path)
            if count == 0 { break }
            crc = buffer.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt(count)) }
            position += count
        }
        return (UInt32(truncatingIfNeeded: crc), position - offset)
    }

    /// Reads up to buffer.count bytes at `offset`; fewer only at the end of the file.
    private static func readFully(_ descriptor: Int32, into buffer: inout [UInt8], at offset: Int, _ path: String) throws -> Int {
        var total = 0
        while total < buffer.count {
            let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + total, $0.count - total, off_t(offset + total)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(path, "cannot be read: \(systemError())")
            }
            if count == 0 { break }
            total += count
        }
        return total
    }

    private static func systemError() -> String { String(cString: strerror(errno)) }

    private static func failure(_ path: String, _ problem: String) -> FileSealError {
        FileSealError(path: path, problem: problem)
    }
}

/// A damaged, truncated or unreadable sealed file; the message names the file.
package struct FileSealError: Error, CustomStringConvertible, LocalizedError, Sendable {
    package let path: String
    package let problem: String
    package var description: String { "\(path): \(problem)" }
    package var errorDescription: String? { description }
}
