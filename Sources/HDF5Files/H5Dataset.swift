import CHDF5

/// An n-dimensional array in a file. Reads are strict about the element type and can take a
/// contiguous range of rows (along the first dimension) without reading the rest.
package final class H5Dataset: H5Object {
    /// The dimensions, outermost first ([] for a scalar dataset).
    package var shape: [Int] {
        get throws {
            let site = try self.site("read dataset shape")
            let space = try site.handle(H5Dget_space(handle.id), .dataspace, "cannot read the dataspace")
            defer { space.close() }
            return try dimensions(space.id, site)
        }
    }

    /// The stored element type; throws `.unsupportedType` for types this wrapper does not read.
    package var elementType: H5ElementType {
        get throws { try storedElementType(site("read dataset type")) }
    }

    /// Chunk shape and deflate level as stored in the file.
    package var layout: H5Layout {
        get throws {
            let site = try self.site("read dataset layout")
            let creation = try site.handle(H5Dget_create_plist(handle.id), .propertyList,
                                           "cannot read the creation properties")
            defer { creation.close() }
            guard H5Pget_layout(creation.id) == H5D_CHUNKED else { return .contiguous }
            var chunk = [hsize_t](repeating: 0, count: 32)
            let rank = H5Pget_chunk(creation.id, Int32(chunk.count), &chunk)
            try site.check(rank < 0 ? -1 : 0, "cannot read the chunk shape")
            var level: Int? = nil
            for index in 0..<max(0, H5Pget_nfilters(creation.id)) {
                var flags: UInt32 = 0, count = 1
                var values: [UInt32] = [0]
                let filter = H5Pget_filter2(creation.id, UInt32(index), &flags, &count, &values, 0, nil, nil)
                if filter == discern_h5z_filter_deflate() { level = Int(values[0]) }
            }
            return .chunked(chunkShape: chunk.prefix(Int(rank)).map { Int($0) }, deflateLevel: level)
        }
    }

    /// Bytes the data occupies in the file (after compression).
    package var storageSize: Int {
        get throws {
            _ = try site("read storage size")
            return Int(H5Dget_storage_size(handle.id))
        }
    }

    // MARK: - Numeric reads

    /// The whole dataset; `T` must match the stored element type exactly.
    package func read<T: H5NumericElement>(_ type: T.Type = T.self) throws -> H5Array<T> {
        try readArray(rows: nil, site("read dataset"))
    }

    /// Rows `rows` along the first dimension, e.g. samples 64..<96 of an (n, h, w, c) image set.
    package func readRows<T: H5NumericElement>(_ rows: Range<Int>, as type: T.Type = T.self) throws -> H5Array<T> {
        try readArray(rows: rows, site("read rows \(rows.lowerBound)..<\(rows.upperBound)"))
    }

    /// The whole dataset into caller memory whose count must equal the element count.
    package func read<T: H5NumericElement>(into buffer: UnsafeMutableBufferPointer<T>) throws {
        let site = try self.site("read dataset")
        let selection = try select(rows: nil, site)
        try transfer(selection, into: buffer, site)
    }

    /// Rows `rows` into caller memory of exactly `rows.count * (elements per row)` elements.
    package func readRows<T: H5NumericElement>(_ rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<T>) throws {
        let site = try self.site("read rows \(rows.lowerBound)..<\(rows.upperBound)")
        let selection = try select(rows: rows, site)
        try transfer(selection, into: buffer, site)
    }

    // MARK: - String reads

    package func readStrings() throws -> H5Array<String> {
        try readStringArray(rows: nil, site("read string dataset"))
    }

    package func readStringRows(_ rows: Range<Int>) throws -> H5Array<String> {
        try readStringArray(rows: rows, site("read string rows \(rows.lowerBound)..<\(rows.upperBound)"))
    }

    // MARK: - Writes

    /// Writes whole rows starting at row `start`; `values.count` must be a multiple of the
    /// elements per row and the rows must fit in the dataset.
    package func writeRows<T: H5NumericElement>(_ values: UnsafeBufferPointer<T>, startingAt start: Int) throws {
        let site = try writeSite("write rows from \(start)")
        try requireElementType(T.h5ElementType, site)
        let selection = try select(rows: try writeRange(values.count, start, site), site)
        defer { selection.close() }
        guard selection.count > 0 else { return }
        try site.check(H5Dwrite(handle.id, T.h5ElementType.nativeTypeID, selection.memory.id, selection.file.id,
                                discern_h5p_default(), UnsafeRawPointer(values.baseAddress!)),
                       "cannot write the values")
    }

    package func writeRows<T: H5NumericElement>(_ values: [T], startingAt start: Int) throws {
        try values.withUnsafeBufferPointer { try writeRows($0, startingAt: start) }
    }

    package func writeStringRows(_ strings: [String], startingAt start: Int) throws {
        let site = try writeSite("write string rows from \(start)")
        try requireElementType(.string, site)
        let selection = try select(rows: try writeRange(strings.count, start, site), site)
        defer { selection.close() }
        guard selection.count > 0 else { return }
        let type = try H5Strings.variableUTF8Type(site)
        defer { type.close() }
        try H5Strings.withCStrings(strings, site) { pointers in
            try site.check(H5Dwrite(handle.id, type.id, selection.memory.id, selection.file.id,
                                    discern_h5p_default(), pointers.baseAddress!), "cannot write the strings")
        }
    }

    // MARK: - Helpers

    /// The memory and file dataspaces for the whole dataset (rows nil) or a row range.
    private struct Selection {
        let memory: H5Handle
        let file: H5Handle
        let shape: [Int]
        var count: Int { shape.reduce(1, *) }
        func close() { memory.close(); file.close() }
    }

    private func select(rows: Range<Int>?, _ site: H5Site) throws -> Selection {
        let fileSpace = try site.handle(H5Dget_space(handle.id), .dataspace, "cannot read the dataspace")
        let dims = try dimensions(fileSpace.id, site)
        guard let rows else {
            return Selection(memory: try site.dataspace(dims), file: fileSpace, shape: dims)
        }
        guard let rowCount = dims.first else {
            throw site.error(.invalidArgument, "a scalar dataset has no rows; read it whole")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw site.error(.invalidArgument, "rows \(rows.lowerBound)..<\(rows.upperBound) are outside the "
                             + "dataset's \(rowCount) rows (shape \(dims))")
        }
        let shape = [rows.count] + dims.dropFirst()
        let start = [hsize_t(rows.lowerBound)] + [hsize_t](repeating: 0, count: dims.count - 1)
        let count = shape.map { hsize_t($0) }
        try site.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil),
                       "cannot select the rows")
        return Selection(memory: try site.dataspace(shape), file: fileSpace, shape: shape)
    }

    private func dimensions(_ space: hid_t, _ site: H5Site) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        try site.check(rank < 0 ? -1 : 0, "cannot read the rank")
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        try site.check(H5Sget_simple_extent_dims(space, &dims, nil) < 0 ? -1 : 0, "cannot read the dimensions")
        return dims.map { Int($0) }
    }

    private func storedElementType(_ site: H5Site) throws -> H5ElementType {
        let type = try site.handle(H5Dget_type(handle.id), .datatype, "cannot read the datatype")
        defer { type.close() }
        let stored = StoredType(type.id)
        guard let element = stored.datasetElementType else {
            throw site.error(.unsupportedType, "the dataset holds \(stored.description), which this wrapper "
                             + "does not read (supported: float32, float64, int32, int64, uint8, string)")
        }
        return element
    }

    /// Throws a message naming both types unless the stored type is `expected`.
    private func requireElementType(_ expected: H5ElementType, _ site: H5Site) throws {
        let actual = try storedElementType(site)
        guard actual == expected else {
            throw site.error(.typeMismatch, "the dataset holds \(actual) elements but \(expected) was requested; "
                             + "read it as \(actual.swiftTypeName) (no silent conversion is done)")
        }
    }

    private func writeRange(_ count: Int, _ start: Int, _ site: H5Site) throws -> Range<Int>? {
        let dims = try shape
        guard let rowCount = dims.first else {
            guard start == 0, count == 1 else {
                throw site.error(.shapeMismatch, "a scalar dataset takes exactly one value at row 0")
            }
            return nil
        }
        let rowSize = dims.dropFirst().reduce(1, *)
        guard rowSize > 0 else { return start..<start }
        guard count % rowSize == 0, start >= 0, start + count / rowSize <= rowCount else {
            throw site.error(.shapeMismatch, "\(count) values are not whole rows of \(rowSize) elements fitting "
                             + "from row \(start) into shape \(dims)")
        }
        return start..<(start + count / rowSize)
    }

    private func transfer<T: H5NumericElement>(_ selection: Selection, into buffer: UnsafeMutableBufferPointer<T>,
                                               _ site: H5Site) throws {
        defer { selection.close() }
        try requireElementType(T.h5ElementType, site)
        guard buffer.count == selection.count else {
            throw site.error(.shapeMismatch, "the destination holds \(buffer.count) elements but the selection "
                             + "of shape \(selection.shape) has \(selection.count)")
        }
        guard selection.count > 0 else { return }
        try site.check(H5Dread(handle.id, T.h5ElementType.nativeTypeID, selection.memory.id, selection.file.id,
                               discern_h5p_default(), UnsafeMutableRawPointer(buffer.baseAddress!)),
                       "cannot read the values")
    }

    private func readArray<T: H5NumericElement>(rows: Range<Int>?, _ site: H5Site) throws -> H5Array<T> {
        let selection = try select(rows: rows, site)
        let values = try [T](unsafeUninitializedCapacity: selection.count) { buffer, initialized in
            try transfer(selection, into: buffer, site)
            initialized = buffer.count
        }
        return H5Array(shape: selection.shape, values: values)
    }

    private func readStringArray(rows: Range<Int>?, _ site: H5Site) throws -> H5Array<String> {
        try requireElementType(.string, site)
        let selection = try select(rows: rows, site)
        defer { selection.close() }
        let type = try site.handle(H5Dget_type(handle.id), .datatype, "cannot read the datatype")
        defer { type.close() }
        let strings = try H5Strings.read(count: selection.count, fileType: type.id, memSpace: selection.memory.id,
                                         site) {
            H5Dread(handle.id, $0, selection.memory.id, selection.file.id, discern_h5p_default(), $1)
        }
        return H5Array(shape: selection.shape, values: strings)
    }
}
