import Kernels

/// How an image becomes the vision tower's input, as transformers' `CLIPImageProcessor` does it
/// (resize shortest edge with PIL bicubic, center crop, rescale, normalise, channels first),
/// optionally after LLaVA's pad-to-square.
public struct ImagePreprocessingConfig: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, CaseIterable, Sendable {
        /// The hub processor: resize the short side to `shortestEdge`, crop the centre.
        case crop
        /// LLaVA-1.5 training (`image_aspect_ratio: pad`): first centre the image on a square of
        /// `padColor`, so nothing is cropped away, then resize and crop as usual.
        case padToSquare = "pad"
    }

    public var mode: Mode
    /// The short side after resizing (transformers' `size["shortest_edge"]`).
    public var shortestEdge: Int
    /// transformers' `crop_size["height"]`, `crop_size["width"]`.
    public var cropHeight: Int
    public var cropWidth: Int
    /// Multiplies the 0...255 bytes (transformers' `rescale_factor`).
    public var rescaleFactor: Double
    /// Per-channel (R, G, B) mean and standard deviation of the rescaled values.
    public var mean: [Double]
    public var std: [Double]
    /// The square canvas colour in `.padToSquare` mode.
    public var padColor: [UInt8]
    /// Which Pillow version's resize to reproduce (they differ for shrunk images over 2:1 tall).
    public var resizePassOrder: ResamplePassOrder

    /// OpenAI CLIP's normalisation (transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD).
    public static let clipMean = [0.48145466, 0.4578275, 0.40821073]
    public static let clipStd = [0.26862954, 0.26130258, 0.27577711]

    /// LLaVA's background: `tuple(int(x * 255) for x in image_mean)`, truncated, so the CLIP
    /// mean gives (122, 116, 104).
    public static func padColor(forMean mean: [Double]) -> [UInt8] {
        mean.map { UInt8(clamping: Int(($0 * 255).rounded(.towardZero))) }
    }

    public init(mode: Mode = .crop, shortestEdge: Int = 336, cropHeight: Int? = nil, cropWidth: Int? = nil,
                rescaleFactor: Double = 1.0 / 255.0, mean: [Double] = clipMean, std: [Double] = clipStd,
                padColor: [UInt8]? = nil, resizePassOrder: ResamplePassOrder = .pillow13) {
        self.mode = mode
        self.shortestEdge = shortestEdge
        self.cropHeight = cropHeight ?? shortestEdge
        self.cropWidth = cropWidth ?? shortestEdge
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.std = std
        self.padColor = padColor ?? Self.padColor(forMean: mean)
        self.resizePassOrder = resizePassOrder
    }

    /// LLaVA-1.5's processor (openai/clip-vit-large-patch14-336): 336 x 336, CLIP mean/std.
    public static func llava15(mode: Mode = .crop) -> Self { Self(mode: mode) }

    /// Every key is optional in a config file; missing ones take the LLaVA-1.5 values.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let edge = try c.decodeIfPresent(Int.self, forKey: .shortestEdge) ?? 336
        let mean = try c.decodeIfPresent([Double].self, forKey: .mean) ?? Self.clipMean
        self.init(mode: try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .crop, shortestEdge: edge,
                  cropHeight: try c.decodeIfPresent(Int.self, forKey: .cropHeight),
                  cropWidth: try c.decodeIfPresent(Int.self, forKey: .cropWidth),
                  rescaleFactor: try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? 1.0 / 255.0,
                  mean: mean, std: try c.decodeIfPresent([Double].self, forKey: .std) ?? Self.clipStd,
                  padColor: try c.decodeIfPresent([UInt8].self, forKey: .padColor),
                  resizePassOrder: try c.decodeIfPresent(ResamplePassOrder.self, forKey: .resizePassOrder) ?? .pillow13)
    }

    /// Throws a message naming the bad key when a value cannot work.
    public func validate() throws {
        func fail(_ key: String, _ problem: String) -> ImagePreprocessingConfigError {
            ImagePreprocessingConfigError(message: "image preprocessing `\(key)`: \(problem)")
        }
        if shortestEdge <= 0 { throw fail("shortestEdge", "\(shortestEdge) must be positive (LLaVA-1.5: 336)") }
        if cropHeight <= 0 || cropWidth <= 0 {
            throw fail("cropHeight/cropWidth", "\(cropHeight) x \(cropWidth) must be positive (LLaVA-1.5: 336)")
        }
        if mean.count != 3 { throw fail("mean", "needs 3 values (R, G, B), got \(mean.count)") }
        if std.count != 3 || std.contains(where: { !($0 > 0) }) {
            throw fail("std", "needs 3 positive values (R, G, B), got \(std)")
        }
        if padColor.count != 3 { throw fail("padColor", "needs 3 bytes (R, G, B), got \(padColor.count)") }
        if !(rescaleFactor > 0) { throw fail("rescaleFactor", "\(rescaleFactor) must be positive (1/255)") }
    }
}

public struct ImagePreprocessingConfigError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Turns decoded images into normalised, channels-first pixel values for the vision tower.
public struct ImagePreprocessor: Sendable {
    public let config: ImagePreprocessingConfig
    private let normalisation: PixelNormalisation

    public init(config: ImagePreprocessingConfig = .llava15()) throws {
        try config.validate()
        self.config = config
        normalisation = PixelNormalisation(rescaleFactor: config.rescaleFactor, mean: config.mean, std: config.std)
    }

    /// Values one image produces: (3, cropHeight, cropWidth).
    public var outputCount: Int { 3 * config.cropHeight * config.cropWidth }

    /// The 8-bit image after pad-to-square (if configured), resize and crop: what PIL holds just
    /// before transformers rescales it. (cropHeight, cropWidth, 3).
    public func resizedAndCropped(_ image: RGBImage) -> RGBImage {
        var image = image
        if config.mode == .padToSquare {
            let c = config.padColor
            image = expandToSquare(image, background: (c[0], c[1], c[2]))
        }
        let size = shortestEdgeResizeSize(width: image.width, height: image.height,
                                          shortestEdge: config.shortestEdge)
        image = resizeBicubic(image, width: size.width, height: size.height, passOrder: config.resizePassOrder)
        return centerCrop(image, width: config.cropWidth, height: config.cropHeight)
    }

    /// Preprocesses one image into `output`: (3, cropHeight, cropWidth), channels first.
    public func preprocess<T: KernelScalar>(_ image: RGBImage, into output: UnsafeMutablePointer<T>) {
        let cropped = resizedAndCropped(image)
        let plane = config.cropHeight * config.cropWidth
        normalisation.withTable { table in
            cropped.pixels.withUnsafeBufferPointer { pixels in
                for i in 0..<plane {
                    for c in 0..<3 {
                        output[c * plane + i] = T(table[c * 256 + Int(pixels[3 * i + c])])
                    }
                }
            }
        }
    }

    /// Preprocesses one image into a new array: (3, cropHeight, cropWidth).
    public func preprocess(_ image: RGBImage) -> [Float] {
        [Float](unsafeUninitializedCapacity: outputCount) { buffer, count in
            preprocess(image, into: buffer.baseAddress!)
            count = outputCount
        }
    }
}
