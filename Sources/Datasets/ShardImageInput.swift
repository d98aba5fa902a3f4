import HDF5Files
import Images

/// How an open shard reads its images: rows of one (S, S, 3) dataset, or (format 3) slices of
/// the flat pixel column that its checked index describes.
enum ShardImageInput {
    case fixed(H5RowReader<UInt8>, size: Int)
    case own(OwnSizeImageIndex)

    /// The (width, height) of image `row`.
    func size(row: Int) -> (width: Int, height: Int) {
        switch self {
        case .fixed(_, let size): return (size, size)
        case .own(let index): return (index.widths[row], index.heights[row])
        }
    }

    /// Image `row`'s pixels with its size.
    func image(row: Int) throws -> RGBImage {
        let (width, height) = size(row: row)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        try pixels.withUnsafeMutableBufferPointer { buffer in
            switch self {
            case .fixed(let reader, _): try reader.readRows(row..<(row + 1), into: buffer.baseAddress!)
            case .own(let index): try index.pixels.readRows(index.byteRange(row), into: buffer.baseAddress!)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}

/// A format 3 shard's /image_offsets, /image_heights and /image_widths, checked against each
/// other, the sizing in dataset.json and the length of /pixels before any image is read: every
/// value comes from a file a user may have damaged, so each is bounded before it is used.
struct OwnSizeImageIndex {
    let pixels: H5RowReader<UInt8>
    let offsets: [Int]
    let heights: [Int]
    let widths: [Int]

    func byteRange(_ row: Int) -> Range<Int> { offsets[row]..<(offsets[row] + heights[row] * widths[row] * 3) }

    init(_ file: H5File, path: String, count: Int, sizing: OwnImageSizing) throws {
        let columns = try [ShardSchema.imageOffsets, ShardSchema.imageHeights, ShardSchema.imageWidths].map { name in
            let dataset = try file.openDataset(name)
            let shape = try dataset.shape   // checked before reading: a damaged shape allocates nothing
            guard shape == [count] else {
                throw DatasetError(file: path, "'/\(name)' has shape \(shape) but dataset.json says \(count) samples; the "
                                   + "data set is inconsistent: re-create it with `discern prepare`")
            }
            return try dataset.read(Int64.self).values.map { Int($0) }
        }
        (offsets, heights, widths) = (columns[0], columns[1], columns[2])
        let pixelData = try file.openDataset(ShardSchema.pixels)
        pixels = try pixelData.rowReader(as: UInt8.self)
        try checkConsistency(path: path, sizing: sizing, pixelBytes: pixels.rowCount, pixelShape: try pixelData.shape)
    }

    /// Row by row: a size the sizing allows, an offset where the previous image ended, and the
    /// last image ending where /pixels ends.
    private func checkConsistency(path: String, sizing: OwnImageSizing, pixelBytes: Int, pixelShape: [Int]) throws {
        func fail(_ problem: String) -> DatasetError {
            DatasetError(file: path, "\(problem); the shard is damaged or not written by discern: re-create the data set with "
                         + "`discern prepare`")
        }
        guard pixelShape.count == 1 else { throw fail("'/\(ShardSchema.pixels)' has shape \(pixelShape), expected one dimension of bytes") }
        var end = 0
        for row in offsets.indices {
            if let problem = sizing.sizeProblem(width: widths[row], height: heights[row]) {
                throw fail("row \(row) of '/\(ShardSchema.imageHeights)' and '/\(ShardSchema.imageWidths)': \(problem) (\(sizing))")
            }
            guard offsets[row] == end else {
                throw fail("row \(row) of '/\(ShardSchema.imageOffsets)' is \(offsets[row]) but the images before it end at byte \(end)")
            }
            let bytes = heights[row] * widths[row] * 3   // bounded by largestArea: no overflow
            guard bytes <= pixelBytes - end else {
                throw fail("row \(row): its \(widths[row]) x \(heights[row]) image ends at byte \(end + bytes) but "
                           + "'/\(ShardSchema.pixels)' holds \(pixelBytes) bytes")
            }
            end += bytes
        }
        guard end == pixelBytes else {
            throw fail("its images end at byte \(end) but '/\(ShardSchema.pixels)' holds \(pixelBytes) bytes")
        }
    }
}
