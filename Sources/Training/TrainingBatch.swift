import Models

/// One rank's share of a global batch: the pairs at global positions
/// `globalOffset ..< globalOffset + count` of the step's global batch.
package struct TrainingBatch: Sendable {
    /// The images as the vision encoder takes them, one after another: (count, 3, size, size)
    /// normalised for a fixed-size family; each image's patch rows for one with `imageGrids`.
    package var pixels: [Float]
    /// Each image's patch grid (images of their own sizes); empty for a fixed-size family.
    package var imageGrids: [PatchGrid]
    package var shortCaptions: [String?]
    package var longCaptions: [String?]
    /// `negativesPerPair` hard negative captions per pair (false edits of its short caption; nil
    /// where a pair has fewer), pair by pair: pair i's are at i * negativesPerPair ..< (i + 1) *
    /// negativesPerPair. Empty when the contrastive loss uses none.
    package var negativeCaptions: [String?]
    package var negativesPerPair: Int
    package var globalOffset: Int
    /// Each image's identity (the data set's ImageIdentity: a hash of its stored pixels), for
    /// duplicate masking: pairs with equal keys show the same image. Empty when the source
    /// knows none: every image then counts as distinct.
    package var imageKeys: [UInt64]

    package init(pixels: [Float], imageGrids: [PatchGrid] = [], shortCaptions: [String?], longCaptions: [String?], negativeCaptions: [String?] = [],
                negativesPerPair: Int = 0, globalOffset: Int, imageKeys: [UInt64] = []) {
        precondition(imageKeys.isEmpty || imageKeys.count == shortCaptions.count, "TrainingBatch: one image key per pair")
        self.imageKeys = imageKeys
        precondition(imageGrids.isEmpty || imageGrids.count == shortCaptions.count, "TrainingBatch: one grid per image")
        self.imageGrids = imageGrids
        precondition(shortCaptions.count == longCaptions.count, "TrainingBatch: caption lists differ in length")
        precondition(negativeCaptions.count == shortCaptions.count * negativesPerPair, "TrainingBatch: negativesPerPair hard negatives per pair")
        self.negativesPerPair = negativesPerPair
        self.pixels = pixels
        self.shortCaptions = shortCaptions
        self.longCaptions = longCaptions
        self.negativeCaptions = negativeCaptions
        self.globalOffset = globalOffset
    }

    package var count: Int { shortCaptions.count }
}

/// CLIP's pixel normalisation: (value / 255 - mean) / std per channel, from (height, width, 3)
/// uint8 to (3, height, width) floats.
package struct PixelNormalization: Sendable, Equatable {
    package var mean: [Float]
    package var std: [Float]
    package static let clip = PixelNormalization(mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711])

    package init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// image: (size, size, 3) uint8 -> output: (3, size, size).
    package func apply(_ image: UnsafePointer<UInt8>, size: Int, into output: UnsafeMutablePointer<Float>) {
        let plane = size * size
        for c in 0..<3 {
            let scale = 1 / (255 * std[c]), shift = mean[c] / std[c]
            for p in 0..<plane { output[c * plane + p] = Float(image[p * 3 + c]) * scale - shift }
        }
    }
}
