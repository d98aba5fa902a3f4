import CHDF5

/// What a path in a file names.
package enum H5ObjectKind: Sendable, Equatable {
    case group, dataset
    /// A committed datatype or another object this wrapper does not handle.
    case other
}

/// A group: a folder of named groups and datasets. Paths may be relative to the group or
/// absolute ("/a/b"); writing creates missing intermediate groups.
package class H5Group: H5Object {
    /// Creates the group at `path` and any missing groups above it.
    @discardableResult
    package func createGroup(_ path: String) throws -> H5Group {
        let site = try writeSite("create group", path)
        try requireAbsent(path, site)
        try createMissingParents(of: path, site)
        let linkProperties = try intermediateGroupLinkProperties(site)
        defer { linkProperties.close() }
        let creation = try groupCreationProperties(site)
        defer { creation.close() }
        let id = H5Gcreate2(handle.id, path, linkProperties.id, creation.id, discern_h5p_default())
        let group = try site.handle(id, .group, file: file, "cannot create the group")
        return H5Group(handle: group, file: file, objectPath: absolutePath(path))
    }

    package func openGroup(_ path: String) throws -> H5Group {
        let site = try self.site("open group", path)
        try requireKind(.group, path, site)
        let group = try site.handle(H5Gopen2(handle.id, path, discern_h5p_default()), .group, file: file,
                                    "cannot open the group")
        return H5Group(handle: group, file: file, objectPath: absolutePath(path))
    }

    /// Opens the group at `path`, creating it (and missing parents) when absent.
    package func openOrCreateGroup(_ path: String) throws -> H5Group {
        try exists(path) ? openGroup(path) : createGroup(path)
    }

    package func openDataset(_ path: String) throws -> H5Dataset {
        let site = try self.site("open dataset", path)
        try requireKind(.dataset, path, site)
        let dataset = try site.handle(H5Dopen2(handle.id, path, discern_h5p_default()), .dataset, file: file,
                                      "cannot open the dataset")
        return H5Dataset(handle: dataset, file: file, objectPath: absolutePath(path))
    }

    /// Names of the group's direct members (groups and datasets), in name order.
    package func memberNames() throws -> [String] {
        let site = try self.site("list members")
        var info = H5G_info_t()
        try site.check(H5Gget_info(handle.id, &info), "cannot read the group's info")
        return try (0..<info.nlinks).map { index in
            try H5Strings.name(site, "member name \(index)") {
                H5Lget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, $0, $1, discern_h5p_default())
            }
        }
    }

    /// Whether `path` names an object. A path through a missing group or through a dataset is
    /// simply absent, not an error.
    package func exists(_ path: String) throws -> Bool {
        _ = try site("check existence", path)  // throws once the file is closed
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") where component != "." {
            prefix += (prefix.isEmpty || prefix == "/" ? "" : "/") + component
            let found = H5Lexists(handle.id, prefix, discern_h5p_default())
            if found < 0 { _ = ErrorStack.drain() }
            guard found > 0 else { return false }
        }
        let found = H5Oexists_by_name(handle.id, path, discern_h5p_default())
        if found < 0 { _ = ErrorStack.drain() }
        return found > 0
    }

    /// What `path` names, or nil when nothing is there.
    package func objectKind(_ path: String) throws -> H5ObjectKind? {
        guard try exists(path) else { return nil }
        let site = try self.site("inspect object", path)
        let object = try site.handle(H5Oopen(handle.id, path, discern_h5p_default()), .object, file: file,
                                     "cannot open the object")
        defer { object.close() }
        switch H5Iget_type(object.id) {
        case H5I_GROUP: return .group
        case H5I_DATASET: return .dataset
        default: return .other
        }
    }

    /// A dataset of `elementType` and `shape`, filled later with `H5Dataset.writeRows`.
    @discardableResult
    package func createDataset(_ path: String, elementType: H5ElementType, shape: [Int],
                              layout: H5Layout = .contiguous) throws -> H5Dataset {
        let site = try writeSite("create dataset", path)
        if elementType == .string {
            let type = try H5Strings.variableUTF8Type(site)
            defer { type.close() }
            return try makeDataset(path, type.id, shape, layout, site)
        }
        return try makeDataset(path, elementType.nativeTypeID, shape, layout, site)
    }

    /// Writes a new dataset holding `values` (row-major) with `shape` (default: one dimension).
    @discardableResult
    package func write<T: H5NumericElement>(_ values: UnsafeBufferPointer<T>, shape: [Int]? = nil, to path: String,
                                           layout: H5Layout = .contiguous) throws -> H5Dataset {
        let site = try writeSite("write dataset", path)
        let shape = shape ?? [values.count]
        try requireCount(values.count, fills: shape, site)
        let dataset = try makeDataset(path, T.h5ElementType.nativeTypeID, shape, layout, site)
        try dataset.writeRows(values, startingAt: 0)
        return dataset
    }

    @discardableResult
    package func write<T: H5NumericElement>(_ values: [T], shape: [Int]? = nil, to path: String,
                                           layout: H5Layout = .contiguous) throws -> H5Dataset {
        try values.withUnsafeBufferPointer { try write($0, shape: shape, to: path, layout: layout) }
    }

    /// Writes a new dataset of variable-length UTF-8 strings.
    @discardableResult
    package func write(_ strings: [String], shape: [Int]? = nil, to path: String,
                      layout: H5Layout = .contiguous) throws -> H5Dataset {
        let site = try writeSite("write dataset", path)
        let shape = shape ?? [strings.count]
        try requireCount(strings.count, fills: shape, site)
        let dataset = try createDataset(path, elementType: .string, shape: shape, layout: layout)
        try dataset.writeStringRows(strings, startingAt: 0)
        return dataset
    }

    /// Reads a whole numeric dataset; the stored type must be `T`'s.
    package func read<T: H5NumericElement>(_ path: String, as type: T.Type = T.self) throws -> H5Array<T> {
        try openDataset(path).read(type)
    }

    /// Reads a whole string dataset.
    package func readStrings(_ path: String) throws -> H5Array<String> {
        try openDataset(path).readStrings()
    }

    // MARK: - Helpers

    private func makeDataset(_ path: String, _ type: hid_t, _ shape: [Int], _ layout: H5Layout,
                             _ site: H5Site) throws -> H5Dataset {
        if let bad = shape.first(where: { $0 < 0 }) {
            throw site.error(.invalidArgument, "shape \(shape) has a negative dimension \(bad)")
        }
        try requireAbsent(path, site)
        try createMissingParents(of: path, site)
        let creation = try site.propertyList(discern_h5p_dataset_create())
        defer { creation.close() }
        try site.check(H5Pset_obj_track_times(creation.id, file.tracksObjectTimes),
                       "cannot set object time tracking")
        var maxShape: [hsize_t]? = nil
        if case .chunked(let chunkShape, let level) = layout {
            guard chunkShape.count == shape.count, chunkShape.allSatisfy({ $0 > 0 }) else {
                throw site.error(.invalidArgument, "chunk shape \(chunkShape) must have \(shape.count) positive "
                                 + "entries to match the data shape \(shape)")
            }
            // HDF5 refuses chunks larger than a fixed dimension; a zero-length dimension needs
            // to be extendible to be chunked at all.
            let chunk = zip(chunkShape, shape).map { hsize_t(max(1, min($0, $1))) }
            maxShape = shape.map { $0 == 0 ? discern_h5s_unlimited() : hsize_t($0) }
            try site.check(H5Pset_chunk(creation.id, Int32(chunk.count), chunk), "cannot set the chunk shape")
            if let level {
                guard (0...9).contains(level) else {
                    throw site.error(.invalidArgument, "deflate level \(level) is outside 0...9")
                }
                guard H5Zfilter_avail(discern_h5z_filter_deflate()) > 0 else {
                    throw site.error(.invalidArgument, "this HDF5 library has no deflate (zlib) filter; "
                                     + "write without compression")
                }
                // Shuffling groups the bytes of each significance together, which makes numeric
                // data compress far better, at negligible cost.
                try site.check(H5Pset_shuffle(creation.id), "cannot enable the shuffle filter")
                try site.check(H5Pset_deflate(creation.id, UInt32(level)), "cannot enable deflate compression")
            }
        }
        let space = try site.dataspace(shape, maxShape: maxShape)
        defer { space.close() }
        let linkProperties = try intermediateGroupLinkProperties(site)
        defer { linkProperties.close() }
        let id = H5Dcreate2(handle.id, path, type, space.id, linkProperties.id, creation.id, discern_h5p_default())
        let dataset = try site.handle(id, .dataset, file: file, "cannot create the dataset")
        return H5Dataset(handle: dataset, file: file, objectPath: absolutePath(path))
    }

    private func groupCreationProperties(_ site: H5Site) throws -> H5Handle {
        let properties = try site.propertyList(discern_h5p_group_create())
        try site.check(H5Pset_obj_track_times(properties.id, file.tracksObjectTimes),
                       "cannot set object time tracking")
        return properties
    }

    /// HDF5 makes intermediate groups with default properties (time stamps included), so in a
    /// file without time tracking the missing parents are created here, one by one.
    private func createMissingParents(of path: String, _ site: H5Site) throws {
        guard !file.tracksObjectTimes else { return }
        var components = absolutePath(path).split(separator: "/").map(String.init)
        components.removeLast()
        var prefix = ""
        for component in components {
            prefix += "/" + component
            if try objectKind(prefix) == nil { try createGroup(prefix) }
        }
    }

    private func intermediateGroupLinkProperties(_ site: H5Site) throws -> H5Handle {
        let properties = try site.propertyList(discern_h5p_link_create())
        try site.check(H5Pset_create_intermediate_group(properties.id, 1), "cannot enable intermediate groups")
        return properties
    }

    private func requireCount(_ count: Int, fills shape: [Int], _ site: H5Site) throws {
        let expected = shape.reduce(1, *)
        guard count == expected else {
            throw site.error(.shapeMismatch, "\(count) values cannot fill shape \(shape) (\(expected) elements)")
        }
    }

    private func requireAbsent(_ path: String, _ site: H5Site) throws {
        if absolutePath(path) == "/" {
            throw site.error(.invalidArgument, "the path names no new object; give a name such as \"weights\"")
        }
        if try exists(path) {
            throw site.error(.objectExists, "an object already exists at this path; write to a new file or "
                             + "choose another name")
        }
    }

    /// Throws a message naming what is (or is not) at `path` unless it is a `kind`.
    private func requireKind(_ kind: H5ObjectKind, _ path: String, _ site: H5Site) throws {
        guard let actual = try objectKind(path) else {
            throw site.error(.objectNotFound, "it does not exist; " + (try nearestExistingGroupListing(path)))
        }
        guard actual == kind else {
            throw site.error(.wrongObjectKind, "it is a \(actual), not a \(kind)")
        }
    }

    /// "group '/a' holds: x, y" for the deepest existing group above `path`, to help spot typos.
    private func nearestExistingGroupListing(_ path: String) throws -> String {
        var components = absolutePath(path).split(separator: "/").map(String.init)
        while !components.isEmpty {
            components.removeLast()
            let candidate = "/" + components.joined(separator: "/")
            if try objectKind(candidate) == .group {
                let names = try openGroup(candidate).memberNames()
                let shown = names.prefix(20).joined(separator: ", ") + (names.count > 20 ? ", ..." : "")
                return "group '\(candidate)' holds: \(names.isEmpty ? "nothing" : shown)"
            }
        }
        return "the file has no such path"
    }
}
