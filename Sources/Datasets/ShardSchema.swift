/// Names and versions of the on-disk data set layout (docs/data.md is the reference).
package enum ShardSchema {
    /// Version of dataset.json and of the shard files of fixed-size data; readers refuse newer
    /// versions. 2: shards are sealed with a CRC-32 (HDF5 user block) that dataset.json records;
    /// 1 is still read.
    package static let formatVersion = 2
    /// The version of data sets whose images keep their own sizes (Qwen2-VL): sealed like 2, the
    /// images in one flat byte column with per-sample offsets, heights and widths.
    package static let ownSizeFormatVersion = 3
    /// The newest version this discern reads.
    package static let newestFormatVersion = ownSizeFormatVersion
    /// The `format` value of dataset.json, so a stray JSON file is not mistaken for a data set.
    package static let formatName = "discern-dataset"
    package static let descriptionFile = "dataset.json"
    package static let defaultSamplesPerShard = 1000

    // Datasets inside a shard.
    static let images = "images"
    static let ids = "ids"
    static let short = "short"
    static let long = "long"
    static let hasShort = "has_short"
    static let hasLong = "has_long"
    static let negatives = "negatives"
    // Several short captions per image (docs/data.md): `short` keeps each sample's first one; the
    // others of the shard's samples follow each other in `short_more`, sample i's at rows
    // short_more_starts[i] ..< short_more_starts[i + 1]. Written only when some sample of the shard
    // has more than one, and then the shard's root carries short_caption_lists = 1: a shard
    // without the attribute (every shard written before, and every single-caption one) holds one
    // short caption per sample and reads exactly as it always did.
    static let shortMore = "short_more"
    static let shortMoreStarts = "short_more_starts"
    static let shortCaptionListsAttribute = "short_caption_lists"
    // Format 3: the images of a shard back to back, and where each starts and how large it is.
    static let pixels = "pixels"
    static let imageOffsets = "image_offsets"
    static let imageHeights = "image_heights"
    static let imageWidths = "image_widths"
    /// Chunk of the flat pixel column: small enough that reading one image inflates little more
    /// than its own bytes, and several chunks fit libhdf5's 1 MiB chunk cache.
    static let pixelChunkBytes = 1 << 16
    // Attributes of a shard's root group.
    static let formatVersionAttribute = "format_version"
    static let imageSizeAttribute = "image_size"
    static let splitAttribute = "split"
    static let imageFactorAttribute = "image_factor"
    static let imageMinPixelsAttribute = "image_min_pixels"
    static let imageMaxPixelsAttribute = "image_max_pixels"

    /// "train/shard-00012.h5": the shard's path relative to the data set directory.
    package static func shardPath(split: String, index: Int) -> String {
        let number = String(index)
        return "\(split)/shard-\(String(repeating: "0", count: max(0, 5 - number.count)))\(number).h5"
    }

    /// A split or negative-type name becomes a folder or an HDF5 path, so it must be one plain
    /// name: letters, digits, '_', '-', '.', not starting with '.'.
    package static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
    }
}
