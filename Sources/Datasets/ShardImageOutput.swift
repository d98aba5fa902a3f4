import HDF5Files

/// How a shard being written stores its images; the layout decides (docs/data.md).
protocol ShardImageOutput {
    /// Stores image number `row` (the shard's samples so far) as it arrives.
    func append(_ sample: Sample, row: Int) throws
    /// Writes what is kept until the shard is complete.
    func complete(_ file: H5File) throws
    /// The layout's root attributes (int64), written after format_version.
    var attributes: [(name: String, value: Int)] { get }
}

extension ImageLayout {
    /// The image datasets of a new shard in `file`.
    func makeOutput(in file: H5File, deflateLevel: Int?) throws -> ShardImageOutput {
        switch self {
        case .fixed(let size): return try FixedImageOutput(file, size: size, deflateLevel: deflateLevel)
        case .own(let sizing): return try OwnSizeImageOutput(file, sizing: sizing, deflateLevel: deflateLevel)
        }
    }
}

/// Formats 1 and 2: /images (N, S, S, 3), one sample per chunk so a batch read touches exactly
/// the samples it needs.
final class FixedImageOutput: ShardImageOutput {
    private let images: H5Dataset
    private let size: Int

    init(_ file: H5File, size: Int, deflateLevel: Int?) throws {
        self.size = size
        images = try file.createDataset(ShardSchema.images, elementType: .uint8, shape: [0, size, size, 3],
                                        layout: .chunked(chunkShape: [1, size, size, 3], deflateLevel: deflateLevel))
    }

    func append(_ sample: Sample, row: Int) throws {
        try images.resizeRows(to: row + 1)
        try images.writeRows(sample.image, startingAt: row)
    }

    func complete(_ file: H5File) throws {}

    var attributes: [(name: String, value: Int)] { [(ShardSchema.imageSizeAttribute, size)] }
}

/// Format 3: /pixels holds the images back to back (uint8, chunked in 64 KiB), /image_offsets,
/// /image_heights and /image_widths (int64, one per sample) say where each starts and its size.
final class OwnSizeImageOutput: ShardImageOutput {
    private let pixels: H5Dataset
    private let sizing: OwnImageSizing
    private var offsets: [Int64] = []
    private var heights: [Int64] = []
    private var widths: [Int64] = []
    private var end = 0

    init(_ file: H5File, sizing: OwnImageSizing, deflateLevel: Int?) throws {
        self.sizing = sizing
        pixels = try file.createDataset(ShardSchema.pixels, elementType: .uint8, shape: [0],
                                        layout: .chunked(chunkShape: [ShardSchema.pixelChunkBytes], deflateLevel: deflateLevel))
    }

    func append(_ sample: Sample, row: Int) throws {
        try pixels.resizeRows(to: end + sample.image.count)
        try pixels.writeRows(sample.image, startingAt: end)
        offsets.append(Int64(end))
        heights.append(Int64(sample.height))
        widths.append(Int64(sample.width))
        end += sample.image.count
    }

    func complete(_ file: H5File) throws {
        try file.write(offsets, to: ShardSchema.imageOffsets)
        try file.write(heights, to: ShardSchema.imageHeights)
        try file.write(widths, to: ShardSchema.imageWidths)
    }

    var attributes: [(name: String, value: Int)] {
        [(ShardSchema.imageFactorAttribute, sizing.factor), (ShardSchema.imageMinPixelsAttribute, sizing.minPixels),
         (ShardSchema.imageMaxPixelsAttribute, sizing.maxPixels)]
    }
}
