import CHDF5

/// Reads row ranges of one numeric dataset straight into caller memory, for hot loops such as
/// batch assembly: the element type and shape are checked once when the reader is made, and the
/// two dataspaces are kept and re-selected, so a read allocates nothing on the Swift side.
/// The reader belongs to one thread at a time.
package final class H5RowReader<T: H5NumericElement> {
    /// Rows along the first dimension.
    package let rowCount: Int
    /// Elements in one row (the product of the other dimensions).
    package let elementsPerRow: Int
    private let dataset: H5Dataset
    private let fileSpace: H5Handle
    private let memorySpace: H5Handle
    /// Hyperslab start and count, reused by every read: [row, 0, 0, ...] and [rows, d1, d2, ...].
    private var start: [hsize_t]
    private var count: [hsize_t]

    init(_ dataset: H5Dataset) throws {
        let site = try dataset.site("make row reader")
        let shape = try dataset.shape
        guard let rows = shape.first else {
            throw site.error(.invalidArgument, "a scalar dataset has no rows; read it whole")
        }
        let stored = try dataset.elementType
        guard stored == T.h5ElementType else {
            throw site.error(.typeMismatch, "the dataset holds \(stored) elements but \(T.h5ElementType) was "
                             + "requested; read it as \(stored.swiftTypeName) (no silent conversion is done)")
        }
        self.dataset = dataset
        rowCount = rows
        elementsPerRow = shape.dropFirst().reduce(1, *)
        fileSpace = try site.handle(H5Dget_space(dataset.handle.id), .dataspace, "cannot read the dataspace")
        memorySpace = try site.dataspace(shape)
        start = [hsize_t](repeating: 0, count: shape.count)
        count = shape.map { hsize_t($0) }
    }

    /// Reads rows `rows` into `destination`, which must hold `rows.count * elementsPerRow` elements.
    package func readRows(_ rows: Range<Int>, into destination: UnsafeMutablePointer<T>) throws {
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw try dataset.site("read rows \(rows.lowerBound)..<\(rows.upperBound)").error(
                .invalidArgument, "rows \(rows.lowerBound)..<\(rows.upperBound) are outside the dataset's "
                + "\(rowCount) rows")
        }
        guard dataset.file.isOpen else {
            _ = try dataset.site("read rows")  // throws the file-closed error
            return
        }
        guard !rows.isEmpty, elementsPerRow > 0 else { return }
        ErrorStack.silenceAutomaticPrinting()
        start[0] = hsize_t(rows.lowerBound)
        count[0] = hsize_t(rows.count)
        let rank = Int32(count.count)
        var status = H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil)
        if status >= 0 { status = H5Sset_extent_simple(memorySpace.id, rank, count, nil) }
        if status >= 0 {
            status = H5Dread(dataset.handle.id, T.h5ElementType.nativeTypeID, memorySpace.id, fileSpace.id,
                             discern_h5p_default(), UnsafeMutableRawPointer(destination))
        }
        if status < 0 {
            throw try dataset.site("read rows \(rows.lowerBound)..<\(rows.upperBound)")
                .libraryError("cannot read the rows")
        }
    }
}

extension H5Dataset {
    /// A reader of row ranges into caller memory; `T` must be the stored element type.
    package func rowReader<T: H5NumericElement>(as type: T.Type = T.self) throws -> H5RowReader<T> {
        try H5RowReader(self)
    }

    /// Sets the number of rows of a dataset created chunked with zero rows (the only datasets
    /// whose first dimension can change), for writers that append rows as they come.
    package func resizeRows(to rowCount: Int) throws {
        let site = try writeSite("resize to \(rowCount) rows")
        let dims = try shape
        guard !dims.isEmpty, rowCount >= 0 else {
            throw site.error(.invalidArgument, "cannot give a scalar dataset \(rowCount) rows")
        }
        let newShape = [hsize_t(rowCount)] + dims.dropFirst().map { hsize_t($0) }
        guard H5Dset_extent(handle.id, newShape) >= 0 else {
            throw site.error(.invalidArgument, "the first dimension cannot change: only datasets created with "
                             + "layout .chunked and zero rows are extendible", library: ErrorStack.drain())
        }
    }
}
