import CHDF5

/// Anything in an HDF5 file that can carry attributes: the file's root group, groups, datasets.
/// Objects keep their file open; `H5File.close()` closes them all, after which they throw
/// `.fileClosed`.
package class H5Object {
    let handle: H5Handle
    let file: H5FileState
    /// Absolute path of this object inside the file ("/" for the root group).
    package let objectPath: String

    init(handle: H5Handle, file: H5FileState, objectPath: String) {
        self.handle = handle
        self.file = file
        self.objectPath = objectPath
    }

    /// Path of the HDF5 file this object lives in.
    package var filePath: String { file.path }

    /// A site for an operation on this object (or on `path` relative to it), after checking
    /// that the file is still open.
    func site(_ operation: String, _ path: String? = nil) throws -> H5Site {
        let site = H5Site(operation, file: file.path, object: path.map(absolutePath) ?? objectPath)
        guard file.isOpen else {
            throw site.error(.fileClosed, "the file was closed with H5File.close(); open it again")
        }
        return site
    }

    /// `site`, after checking that the file was opened for writing.
    func writeSite(_ operation: String, _ path: String? = nil) throws -> H5Site {
        let site = try self.site(operation, path)
        guard file.isWritable else {
            throw site.error(.readOnly, "the file is open read-only; open it with H5File.open(_:mode: .readWrite)")
        }
        return site
    }

    /// `path` made absolute: absolute paths are kept, relative ones are joined to this object.
    func absolutePath(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : (objectPath == "/" ? "/" : objectPath + "/") + path
        let parts = joined.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}

/// An attribute's value. Integers of any width up to int64 and floats up to double are read
/// widened to Int64 and Double (lossless); strings are written as variable-length UTF-8.
package enum H5AttributeValue: Sendable, Equatable {
    case string(String)
    case int64(Int64)
    case double(Double)
    case int64Array([Int64])
    case doubleArray([Double])

    var kindName: String {
        switch self {
        case .string: return "string"
        case .int64: return "int64"
        case .double: return "double"
        case .int64Array: return "int64 array"
        case .doubleArray: return "double array"
        }
    }
}

extension H5Object {
    /// Writes (or replaces) an attribute of this object.
    package func setAttribute(_ name: String, _ value: H5AttributeValue) throws {
        let site = try writeSite("write attribute '\(name)'")
        if try site.check(tri: H5Aexists(handle.id, name), "cannot check whether the attribute exists") {
            try site.check(H5Adelete(handle.id, name), "cannot replace the existing attribute")
        }
        switch value {
        case .string(let string):
            let type = try H5Strings.variableUTF8Type(site)
            defer { type.close() }
            let space = try site.handle(H5Screate(H5S_SCALAR), .dataspace, "cannot create a scalar dataspace")
            defer { space.close() }
            let attribute = try createAttribute(name, type.id, space.id, site)
            defer { attribute.close() }
            try H5Strings.withCStrings([string], site) { pointers in
                try site.check(H5Awrite(attribute.id, type.id, pointers.baseAddress!), "cannot write the string")
            }
        case .int64(let number): try writeNumbers([number], scalar: true, name, site)
        case .double(let number): try writeNumbers([number], scalar: true, name, site)
        case .int64Array(let numbers): try writeNumbers(numbers, scalar: false, name, site)
        case .doubleArray(let numbers): try writeNumbers(numbers, scalar: false, name, site)
        }
    }

    /// Reads an attribute of this object, whatever its kind.
    package func attribute(_ name: String) throws -> H5AttributeValue {
        let site = try self.site("read attribute '\(name)'")
        guard try site.check(tri: H5Aexists(handle.id, name), "cannot check whether the attribute exists") else {
            let names = try attributeNames()
            throw site.error(.objectNotFound, "there is no attribute '\(name)'; "
                             + "attributes present: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        let attribute = try site.handle(H5Aopen(handle.id, name, discern_h5p_default()), .attribute,
                                        file: file, "cannot open the attribute")
        defer { attribute.close() }
        let type = try site.handle(H5Aget_type(attribute.id), .datatype, "cannot read the attribute's type")
        defer { type.close() }
        let space = try site.handle(H5Aget_space(attribute.id), .dataspace, "cannot read the attribute's shape")
        defer { space.close() }
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        let isScalar = H5Sget_simple_extent_type(space.id) == H5S_SCALAR
        let stored = StoredType(type.id)

        func numbers<T: H5NumericElement>(_ element: H5ElementType, _ zero: T) throws -> [T] {
            var values = [T](repeating: zero, count: count)
            if count > 0 {
                try values.withUnsafeMutableBytes { raw in
                    try site.check(H5Aread(attribute.id, element.nativeTypeID, raw.baseAddress!),
                                   "cannot read the attribute's values")
                }
            }
            return values
        }
        switch stored {
        case .element(.string), .fixedString:
            let strings = try H5Strings.read(count: count, fileType: type.id, memSpace: space.id, site) {
                H5Aread(attribute.id, $0, $1)
            }
            guard isScalar, let string = strings.first else {
                throw site.error(.unsupportedType, "the attribute holds \(count) strings; only single strings "
                                 + "are supported")
            }
            return .string(string)
        case .element(.int32), .element(.int64), .element(.uint8), .otherInteger:
            if case .otherInteger(8, false) = stored {
                throw site.error(.unsupportedType, "uint64 attributes may not fit in Int64; store int64 instead")
            }
            let values = try numbers(.int64, Int64(0))
            return isScalar ? .int64(values[0]) : .int64Array(values)
        case .element(.float32), .element(.float64), .otherFloat:
            let values = try numbers(.float64, 0.0)
            return isScalar ? .double(values[0]) : .doubleArray(values)
        case .unsupported(let text):
            throw site.error(.unsupportedType, "attributes of type \(text) are not supported")
        }
    }

    package func stringAttribute(_ name: String) throws -> String {
        if case .string(let value) = try attribute(name) { return value }
        throw try mismatch(name, expected: "string")
    }

    package func int64Attribute(_ name: String) throws -> Int64 {
        if case .int64(let value) = try attribute(name) { return value }
        throw try mismatch(name, expected: "int64")
    }

    package func doubleAttribute(_ name: String) throws -> Double {
        if case .double(let value) = try attribute(name) { return value }
        throw try mismatch(name, expected: "double")
    }

    package func int64ArrayAttribute(_ name: String) throws -> [Int64] {
        if case .int64Array(let value) = try attribute(name) { return value }
        throw try mismatch(name, expected: "int64 array")
    }

    package func doubleArrayAttribute(_ name: String) throws -> [Double] {
        if case .doubleArray(let value) = try attribute(name) { return value }
        throw try mismatch(name, expected: "double array")
    }

    package func hasAttribute(_ name: String) throws -> Bool {
        let site = try self.site("look up attribute '\(name)'")
        return try site.check(tri: H5Aexists(handle.id, name), "cannot check whether the attribute exists")
    }

    /// Names of this object's attributes, in name order.
    package func attributeNames() throws -> [String] {
        let site = try self.site("list attributes")
        var info = H5O_info_t()
        try site.check(H5Oget_info2(handle.id, &info, UInt32(H5O_INFO_NUM_ATTRS)), "cannot read object info")
        return try (0..<hsize_t(info.num_attrs)).map { index in
            try H5Strings.name(site, "attribute name \(index)") {
                H5Aget_name_by_idx(handle.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, $0, $1, discern_h5p_default())
            }
        }
    }

    private func mismatch(_ name: String, expected: String) throws -> HDF5Error {
        let actual = try attribute(name).kindName
        return try site("read attribute '\(name)'").error(
            .typeMismatch, "the attribute holds a \(actual), not a \(expected); read it with the matching getter")
    }

    private func createAttribute(_ name: String, _ type: hid_t, _ space: hid_t, _ site: H5Site) throws -> H5Handle {
        try site.handle(H5Acreate2(handle.id, name, type, space, discern_h5p_default(), discern_h5p_default()),
                        .attribute, file: file, "cannot create the attribute")
    }

    private func writeNumbers<T: H5NumericElement>(_ values: [T], scalar: Bool, _ name: String,
                                                   _ site: H5Site) throws {
        let space = scalar
            ? try site.handle(H5Screate(H5S_SCALAR), .dataspace, "cannot create a scalar dataspace")
            : try site.dataspace([values.count])
        defer { space.close() }
        let type = T.h5ElementType.nativeTypeID
        let attribute = try createAttribute(name, type, space.id, site)
        defer { attribute.close() }
        guard !values.isEmpty else { return }
        try values.withUnsafeBytes { raw in
            try site.check(H5Awrite(attribute.id, type, raw.baseAddress!), "cannot write the attribute's values")
        }
    }
}
