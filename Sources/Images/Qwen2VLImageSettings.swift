/// How Qwen2-VL's processor turns an image into patches: the values of its
/// preprocessor_config.json that matter (ModelFiles reads the file; transformers 5.24's
/// `Qwen2VLImageProcessorPil` is the reference). The defaults are transformers' own.
public struct Qwen2VLImageSettings: Codable, Sendable, Equatable {
    /// Side of one square patch, in pixels (`patch_size`).
    public var patchSize: Int
    /// Side of the window of patches the vision tower's merger joins into one token (`merge_size`).
    public var mergeSize: Int
    /// Frames per patch (`temporal_patch_size`); a still image is repeated this many times.
    public var temporalPatchSize: Int
    /// The area smart_resize keeps an image above and below (`size.shortest_edge` and
    /// `size.longest_edge`, or older files' `min_pixels` / `max_pixels`: pixel counts, not sides).
    public var minPixels: Int
    public var maxPixels: Int
    /// Multiplies the 0...255 bytes (`rescale_factor`).
    public var rescaleFactor: Double
    /// Per-channel (R, G, B) mean and standard deviation of the rescaled values.
    public var mean: [Double]
    public var std: [Double]
    /// Which Pillow version's bicubic resize to reproduce (see ResamplePassOrder).
    public var resizePassOrder: ResamplePassOrder

    /// Guards the arithmetic: beyond this many pixels a bound is a typo, not a budget.
    public static let pixelLimit = 1 << 40

    public init(patchSize: Int = 14, mergeSize: Int = 2, temporalPatchSize: Int = 2,
                minPixels: Int = 56 * 56, maxPixels: Int = 28 * 28 * 1280, rescaleFactor: Double = 1.0 / 255.0,
                mean: [Double] = ImagePreprocessingConfig.clipMean, std: [Double] = ImagePreprocessingConfig.clipStd,
                resizePassOrder: ResamplePassOrder = .pillow13) {
        self.patchSize = patchSize
        self.mergeSize = mergeSize
        self.temporalPatchSize = temporalPatchSize
        self.minPixels = minPixels
        self.maxPixels = maxPixels
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.std = std
        self.resizePassOrder = resizePassOrder
    }

    /// Both sides of a resized image are multiples of this: patch size x merge size.
    public var factor: Int { patchSize * mergeSize }

    /// Values in one row of pixel_values: channels x frames x patch x patch.
    public var patchLength: Int { 3 * temporalPatchSize * patchSize * patchSize }

    /// Throws a message naming the preprocessor_config.json key when a value cannot work.
    public func validate() throws(ImagePreprocessingConfigError) {
        func fail(_ key: String, _ problem: String) -> ImagePreprocessingConfigError {
            ImagePreprocessingConfigError(message: "Qwen2-VL image preprocessing `\(key)`: \(problem)")
        }
        for (key, value, usual) in [("patch_size", patchSize, 14), ("merge_size", mergeSize, 2),
                                    ("temporal_patch_size", temporalPatchSize, 2)] where !(1...1024).contains(value) {
            throw fail(key, "\(value) must be between 1 and 1024 (Qwen2-VL: \(usual))")
        }
        let minKey = "size.shortest_edge (min_pixels)", maxKey = "size.longest_edge (max_pixels)"
        for (key, value) in [(minKey, minPixels), (maxKey, maxPixels)] where !(1...Self.pixelLimit).contains(value) {
            throw fail(key, "\(value) must be a pixel count between 1 and \(Self.pixelLimit) (Qwen2-VL: 3136 and 12845056)")
        }
        if minPixels > maxPixels {
            throw fail(minKey, "\(minPixels) is above \(maxKey) \(maxPixels); swap them or fix the smaller one")
        }
        if mean.count != 3 || !mean.allSatisfy(\.isFinite) { throw fail("image_mean", "needs 3 finite values (R, G, B), got \(mean)") }
        if std.count != 3 || std.contains(where: { !($0 > 0 && $0.isFinite) }) {
            throw fail("image_std", "needs 3 positive values (R, G, B), got \(std)")
        }
        if !(rescaleFactor > 0 && rescaleFactor.isFinite) { throw fail("rescale_factor", "\(rescaleFactor) must be positive (1/255)") }
    }
}
