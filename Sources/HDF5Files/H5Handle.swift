import CHDF5

/// The open HDF5 file shared by an `H5File` and every object opened from it, so objects keep
/// the file alive and can tell when `H5File.close()` has closed it under them.
final class H5FileState {
    let path: String
    let id: hid_t
    let isWritable: Bool
    /// False when the file was created with `tracksObjectTimes: false`: every group and
    /// dataset created in it then carries no time stamps.
    let tracksObjectTimes: Bool
    private(set) var isOpen = true

    init(path: String, id: hid_t, isWritable: Bool, tracksObjectTimes: Bool = true) {
        self.path = path
        self.id = id
        self.isWritable = isWritable
        self.tracksObjectTimes = tracksObjectTimes
    }

    /// Files are opened with the STRONG close degree: this closes every object still open in
    /// the file and releases the descriptor, so the bytes are complete when it returns.
    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        return H5Fclose(id)
    }

    deinit { _ = close() }
}

/// One HDF5 identifier that is closed exactly once: by `close()` or, failing that, by deinit.
/// Functions call `close()` in a `defer` because Swift may end an object's lifetime at its
/// last use, which could be before the C call that reads its `id`.
final class H5Handle {
    enum Kind { case group, dataset, dataspace, datatype, attribute, propertyList, object }

    let id: hid_t
    let kind: Kind
    /// The file the object lives in; nil for dataspaces, datatypes and property lists.
    private let file: H5FileState?
    private var isClosed = false

    init(_ id: hid_t, _ kind: Kind, file: H5FileState? = nil) {
        self.id = id
        self.kind = kind
        self.file = file
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        // A STRONG file close has already closed objects of that file.
        if let file, !file.isOpen { return }
        guard H5Iis_valid(id) > 0 else { return }
        switch kind {
        case .group: _ = H5Gclose(id)
        case .dataset: _ = H5Dclose(id)
        case .dataspace: _ = H5Sclose(id)
        case .datatype: _ = H5Tclose(id)
        case .attribute: _ = H5Aclose(id)
        case .propertyList: _ = H5Pclose(id)
        case .object: _ = H5Oclose(id)
        }
    }

    deinit { close() }
}

extension H5Site {
    /// Wraps a returned identifier, throwing with HDF5's stack when it is negative.
    func handle(_ id: hid_t, _ kind: H5Handle.Kind, file: H5FileState? = nil,
                _ reason: @autoclosure () -> String) throws -> H5Handle {
        H5Handle(try check(id: id, reason()), kind, file: file)
    }

    /// A simple dataspace with the given dimensions (and maximum dimensions, if any).
    func dataspace(_ shape: [Int], maxShape: [hsize_t]? = nil) throws -> H5Handle {
        let dims = shape.map { hsize_t($0) }
        let id: hid_t
        if let maxShape {
            id = H5Screate_simple(Int32(dims.count), dims, maxShape)
        } else {
            id = H5Screate_simple(Int32(dims.count), dims, nil)
        }
        return try handle(id, .dataspace, "cannot create a dataspace of shape \(shape)")
    }

    func propertyList(_ classID: hid_t) throws -> H5Handle {
        try handle(H5Pcreate(classID), .propertyList, "cannot create a property list")
    }
}
