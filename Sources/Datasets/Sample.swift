/// One training or evaluation example as Discern stores it in HDF5 shards (docs/data.md).
package struct Sample: Sendable, Equatable {
    /// A stable identifier (the manifest line's image path, or "synth-train-000123").
    package var id: String
    /// RGB pixels at the model's resolution, row-major (height, width, 3), already resized and
    /// cropped (or padded) by the preprocessing; normalisation happens when a batch is built.
    package var image: [UInt8]
    /// Short caption, for the contrastive loss (nil when the sample has none).
    package var short: String?
    /// Long caption, for the next-token loss (nil when the sample has none).
    package var long: String?
    /// Hard-negative captions by type (evaluation splits): e.g. "swap_attributes": "...".
    package var negatives: [String: String]

    package init(id: String, image: [UInt8], short: String?, long: String?, negatives: [String: String] = [:]) {
        self.id = id
        self.image = image
        self.short = short
        self.long = long
        self.negatives = negatives
    }
}
