import CHDF5
import Foundation

/// What `H5File.create` does when the path already exists.
package enum H5CreateMode: Sendable {
    /// Replace the existing file.
    case truncate
    /// Fail with `.fileExists`.
    case exclusive
}

package enum H5OpenMode: Sendable {
    case readOnly, readWrite
}

/// An open HDF5 file; as a group it is the root group "/" (file attributes live there).
///
/// For an atomic checkpoint: create a temporary file, write, `close()` (which flushes and
/// releases everything), then `durableRename(from:to:)`, which fsyncs the file, renames it
/// and fsyncs the directory.
package final class H5File: H5Group {
    /// Creates a new file (parent directory must exist).
    ///
    /// `tracksObjectTimes: false` leaves the creation and modification times out of every group
    /// and dataset (HDF5 stamps them by default), so the same content written the same way gives
    /// a byte-identical file: what reproducible data sets and checksummed artefacts need.
    /// `userBlock: true` reserves `FileSeal.blockSize` bytes at the start for `FileSeal.seal`.
    package static func create(_ path: String, mode: H5CreateMode = .truncate,
                              tracksObjectTimes: Bool = true, userBlock: Bool = false) throws -> H5File {
        let site = H5Site("create file", file: path, object: nil)
        let parent = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory)
            || !isDirectory.boolValue {
            throw site.error(.fileNotFound, "the directory '\(parent)' does not exist; create it first")
        }
        if mode == .exclusive, FileManager.default.fileExists(atPath: path) {
            throw site.error(.fileExists, "the file already exists; remove it or create with mode .truncate")
        }
        let access = try fileAccessProperties(site)
        defer { access.close() }
        // The file creation list is also the root group's creation list.
        let creation = try site.propertyList(discern_h5p_file_create())
        defer { creation.close() }
        try site.check(H5Pset_obj_track_times(creation.id, tracksObjectTimes),
                       "cannot set object time tracking")
        if userBlock {
            try site.check(H5Pset_userblock(creation.id, hsize_t(FileSeal.blockSize)), "cannot reserve the user block")
        }
        let flags = mode == .exclusive ? discern_h5f_acc_excl() : discern_h5f_acc_trunc()
        let id = try site.check(id: H5Fcreate(path, flags, creation.id, access.id),
                                "the file could not be created (check permissions and free space)")
        return try H5File(path: path, id: id, isWritable: true, tracksObjectTimes: tracksObjectTimes, site)
    }

    /// Opens an existing file. Missing, non-HDF5 and damaged files give distinct messages.
    package static func open(_ path: String, mode: H5OpenMode = .readOnly) throws -> H5File {
        let site = H5Site(mode == .readOnly ? "open file" : "open file for writing", file: path, object: nil)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw site.error(.fileNotFound, "the file does not exist (working directory: "
                             + "\(FileManager.default.currentDirectoryPath)); check the path")
        }
        if isDirectory.boolValue {
            throw site.error(.invalidArgument, "the path is a directory, not an HDF5 file")
        }
        let access = try fileAccessProperties(site)
        defer { access.close() }
        let flags = mode == .readOnly ? discern_h5f_acc_rdonly() : discern_h5f_acc_rdwr()
        let id = H5Fopen(path, flags, access.id)
        guard id >= 0 else { throw diagnoseOpenFailure(path, site) }
        return try H5File(path: path, id: id, isWritable: mode == .readWrite, site)
    }

    private init(path: String, id: hid_t, isWritable: Bool, tracksObjectTimes: Bool = true,
                 _ site: H5Site) throws {
        let state = H5FileState(path: path, id: id, isWritable: isWritable, tracksObjectTimes: tracksObjectTimes)
        let root = try site.handle(H5Gopen2(id, "/", discern_h5p_default()), .group, file: state,
                                   "cannot open the root group")
        super.init(handle: root, file: state, objectPath: "/")
    }

    package var isOpen: Bool { file.isOpen }

    /// Asks HDF5 to write its buffers to the operating system (not an fsync).
    package func flush() throws {
        let site = try self.site("flush file")
        try site.check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "cannot flush the file")
    }

    /// Flushes and closes the file and every object opened from it. Calling it again does nothing.
    package func close() throws {
        guard file.isOpen else { return }
        let site = H5Site("close file", file: file.path, object: nil)
        try site.check(file.close(), "closing (and so flushing) the file failed; the file may be incomplete")
    }

    /// STRONG close degree so `close()` really releases the file even if a dataset object is
    /// still referenced somewhere; v1.8 object formats so large attributes work (readable by
    /// any HDF5 since 2008); file locking that tolerates file systems without lock support.
    private static func fileAccessProperties(_ site: H5Site) throws -> H5Handle {
        let access = try site.propertyList(discern_h5p_file_access())
        try site.check(H5Pset_fclose_degree(access.id, H5F_CLOSE_STRONG), "cannot set the file close degree")
        try site.check(H5Pset_libver_bounds(access.id, H5F_LIBVER_V18, H5F_LIBVER_V110),
                       "cannot set the format version bounds")
        try site.check(H5Pset_file_locking(access.id, true, true), "cannot set file locking")
        return access
    }

    /// Tells a non-HDF5 file from a truncated or corrupt one by looking for the signature.
    private static func diagnoseOpenFailure(_ path: String, _ site: H5Site) -> HDF5Error {
        let library = ErrorStack.drain()
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        if size == 0 {
            return site.error(.corruptFile, "the file is empty (0 bytes): it is truncated, probably by an "
                              + "interrupted write; re-create it", library: library)
        }
        if signatureOffset(path) == nil {
            return site.error(.notHDF5, "this is not an HDF5 file (no HDF5 signature found); check that the "
                              + "path points at an .h5 file written by discern or h5py", library: library)
        }
        if library.contains(where: { $0.localizedCaseInsensitiveContains("truncated") }) {
            return site.error(.corruptFile, "the file is truncated (shorter than its header says), probably by an "
                              + "interrupted write or copy; re-create it or use an earlier copy", library: library)
        }
        if library.contains(where: { $0.localizedCaseInsensitiveContains("lock") }) {
            return site.error(.library, "the file is locked, probably open for writing in another process; "
                              + "if the file system lacks locking set HDF5_USE_FILE_LOCKING=FALSE",
                              library: library)
        }
        return site.error(.corruptFile, "the file has an HDF5 signature but cannot be opened: it is corrupt, "
                          + "truncated, or not readable by this process", library: library)
    }

    /// Where the 8-byte HDF5 signature is: HDF5 looks at offset 0, 512, 1024, 2048, ... (after a
    /// user block); nil when it is nowhere.
    static func signatureOffset(_ path: String) -> UInt64? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var offset: UInt64 = 0
        while true {
            guard (try? handle.seek(toOffset: offset)) != nil,
                  let bytes = try? handle.read(upToCount: 8), bytes.count == 8 else { return nil }
            if Array(bytes) == FileSeal.hdf5Signature { return offset }
            offset = offset == 0 ? 512 : offset * 2
        }
    }
}
