import Images

/// One training or evaluation example as Discern stores it in HDF5 shards (docs/data.md).
package struct Sample: Sendable, Equatable {
    /// A stable identifier (the manifest line's image path, or "synth-train-000123").
    package var id: String
    /// RGB pixels at the model's resolution, row-major (height, width, 3), already resized and
    /// cropped (or padded, or smart-resized) by the preprocessing; normalisation happens when a
    /// batch is built.
    package var image: [UInt8]
    /// The image's size in pixels: the split's image size for fixed-size data, each image's own
    /// for format 3 (docs/data.md).
    package var width: Int
    package var height: Int
    /// Every short caption of the image, for the contrastive loss (empty when it has none). A
    /// training step uses one of them, chosen by `ShortCaptionChoice` (docs/data.md).
    package var shortCaptions: [String]
    /// The first short caption (nil when the sample has none); setting it replaces the whole list.
    package var short: String? {
        get { shortCaptions.first }
        set { shortCaptions = Self.list(newValue) }
    }

    /// One caption as a list: "" is absent, as it always was in the shards.
    private static func list(_ short: String?) -> [String] {
        guard let short, !short.isEmpty else { return [] }
        return [short]
    }
    /// Long caption, for the next-token loss (nil when the sample has none).
    package var long: String?
    /// Hard-negative captions by type (evaluation splits): e.g. "swap_attributes": "...".
    package var negatives: [String: String]

    package init(id: String, image: [UInt8], width: Int, height: Int, short: String?, long: String?,
                 negatives: [String: String] = [:]) {
        self.init(id: id, image: image, width: width, height: height, shortCaptions: Self.list(short), long: long,
                  negatives: negatives)
    }

    /// A sample with several short captions (a manifest line's list, a webdataset sample's).
    package init(id: String, image: [UInt8], width: Int, height: Int, shortCaptions: [String], long: String?,
                 negatives: [String: String] = [:]) {
        self.id = id
        self.image = image
        self.width = width
        self.height = height
        self.shortCaptions = shortCaptions
        self.long = long
        self.negatives = negatives
    }

    /// A square image (side, side, 3), the side taken from the byte count (fixed-size data sets);
    /// a count that is not 3 side^2 keeps the nearest smaller side, which the writer then refuses.
    package init(id: String, image: [UInt8], short: String?, long: String?, negatives: [String: String] = [:]) {
        let side = Self.squareSide(bytes: image.count)
        self.init(id: id, image: image, width: side, height: side, short: short, long: long, negatives: negatives)
    }

    /// A sample holding `image` with its size.
    package init(id: String, image: RGBImage, short: String?, long: String?, negatives: [String: String] = [:]) {
        self.init(id: id, image: image, shortCaptions: Self.list(short), long: long, negatives: negatives)
    }

    package init(id: String, image: RGBImage, shortCaptions: [String], long: String?, negatives: [String: String] = [:]) {
        self.init(id: id, image: image.pixels, width: image.width, height: image.height, shortCaptions: shortCaptions,
                  long: long, negatives: negatives)
    }

    /// The largest side with 3 side^2 <= bytes.
    private static func squareSide(bytes: Int) -> Int {
        var side = Int(Double(max(0, bytes / 3)).squareRoot())
        while side > 0 && side * side * 3 > bytes { side -= 1 }
        while (side + 1) * (side + 1) * 3 <= bytes { side += 1 }
        return side
    }
}
