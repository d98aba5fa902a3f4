import CArchive
import Foundation
import XCTest

/// Writes tar shards for the webdataset tests with libarchive's writer (ustar, optionally
/// gzip-compressed), members in the order given, so each test builds exactly the archive it needs.
package enum TarFixture {
    package static func write(_ members: [(name: String, data: [UInt8])], to path: String, gzip: Bool = false) throws {
        let archive = archive_write_new()!
        defer { archive_write_free(archive) }
        archive_write_set_format_ustar(archive)
        if gzip { archive_write_add_filter_gzip(archive) }
        guard archive_write_open_filename(archive, path) == ARCHIVE_OK else {
            throw TarFixtureError(path: path, message: String(cString: archive_error_string(archive)))
        }
        for member in members {
            let entry = archive_entry_new()!
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, member.name)
            archive_entry_set_size(entry, la_int64_t(member.data.count))
            archive_entry_set_filetype(entry, UInt32(discern_archive_regular_file_type()))
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            guard archive_write_header(archive, entry) == ARCHIVE_OK,
                  member.data.withUnsafeBytes({ archive_write_data(archive, $0.baseAddress, $0.count) }) == member.data.count else {
                throw TarFixtureError(path: path, message: String(cString: archive_error_string(archive)))
            }
        }
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw TarFixtureError(path: path, message: String(cString: archive_error_string(archive)))
        }
    }

    package static func text(_ string: String) -> [UInt8] { Array(string.utf8) }
}

package struct TarFixtureError: Error { package let path: String, message: String }
