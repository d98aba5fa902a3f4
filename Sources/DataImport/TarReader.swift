import CArchive
import Datasets

/// One file of a tar shard: its path inside the archive and its bytes.
struct TarMember {
    let name: String
    let data: [UInt8]
}

/// What `TarReader.next` meets besides a file.
enum TarEntry {
    case file(TarMember)
    /// A folder entry: tar writers add them, webdataset ignores them.
    case folder
    /// A link, device or other non-file entry: reported and skipped.
    case other(name: String)
}

/// The archive ends in the middle of a member or a header is damaged: the rest of the shard is lost.
struct TarDamage: Error {
    let message: String
    /// The member whose data is cut short; nil when a header could not be read.
    var member: String? = nil
}

/// Reads a tar shard (or a gzip/bzip2/xz/zstd-compressed one) member by member with libarchive,
/// streaming: only the current member is in memory.
final class TarReader {
    let path: String
    private let archive: OpaquePointer
    /// Members larger than this are treated as a damaged header rather than allocated.
    static let maxMemberBytes: Int64 = 1 << 30

    private var opened = false

    init(path: String) throws {
        self.path = path
        guard let archive = archive_read_new() else { throw DatasetError(file: path, "libarchive: out of memory") }
        self.archive = archive
        archive_read_support_format_tar(archive)
        archive_read_support_filter_all(archive)
    }

    deinit { archive_read_free(archive) }

    /// Bytes of the shard file consumed so far (compressed bytes for a compressed shard), for progress.
    var bytesRead: Int { opened ? Int(archive_filter_bytes(archive, -1)) : 0 }

    /// The next entry, nil at the end of the archive. A file member whose name `wanted` refuses
    /// comes back without its bytes, passed over (a seek in an uncompressed shard).
    func next(wanted: (String) -> Bool = { _ in true }) throws(TarDamage) -> TarEntry? {
        if !opened {
            // Opening reads the first header, so a file that is no tar fails here, as damage like any other.
            guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else {
                throw TarDamage(message: "cannot be read as a tar archive (\(errorText()))")
            }
            opened = true
        }
        var entry: OpaquePointer?
        let status = archive_read_next_header(archive, &entry)
        if status == ARCHIVE_EOF { return nil }
        // ARCHIVE_WARN (an odd header field the reader could still use) keeps the member.
        guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else { throw TarDamage(message: errorText()) }
        let name = archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
        if discern_archive_entry_is_directory(entry) != 0 { return .folder }
        guard discern_archive_entry_is_regular(entry) != 0 else { return .other(name: name) }
        let size = archive_entry_size(entry)
        guard size >= 0, size <= Self.maxMemberBytes else {
            throw TarDamage(message: "member '\(name)' claims \(size) bytes (at most \(Self.maxMemberBytes) accepted)", member: name)
        }
        guard wanted(name) else {
            guard archive_read_data_skip(archive) == ARCHIVE_OK else {
                throw TarDamage(message: "member '\(name)' cannot be passed over (\(errorText()))", member: name)
            }
            return .file(TarMember(name: name, data: []))
        }
        var data = [UInt8](repeating: 0, count: Int(size))
        var filled = 0
        while filled < data.count {
            let got = data.withUnsafeMutableBytes { raw in
                archive_read_data(archive, raw.baseAddress! + filled, raw.count - filled)
            }
            guard got > 0 else {
                throw TarDamage(message: "member '\(name)' ends after \(filled) of \(size) bytes"
                                + (got < 0 ? " (\(errorText()))" : ""), member: name)
            }
            filled += got
        }
        return .file(TarMember(name: name, data: data))
    }

    private func errorText() -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
