import Images

/// How a data set's images are sized (docs/data.md): one side for all, or each its own.
package enum ImageLayout: Equatable, Sendable, CustomStringConvertible {
    /// Every image is (size, size, 3): format versions 1 and 2.
    case fixed(size: Int)
    /// Each image keeps the (height, width, 3) Qwen2-VL's smart_resize gave it: format version 3.
    case own(OwnImageSizing)

    /// The shared side of a fixed layout, nil when images have their own sizes.
    package var fixedSize: Int? {
        if case .fixed(let size) = self { return size }
        return nil
    }

    /// The format version that stores this layout.
    package var formatVersion: Int {
        switch self {
        case .fixed: return ShardSchema.formatVersion
        case .own: return ShardSchema.ownSizeFormatVersion
        }
    }

    /// "336-pixel images" or "images at their own sizes (...)", for messages.
    package var imagesPhrase: String {
        switch self {
        case .fixed(let size): return "\(size)-pixel images"
        case .own(let sizing): return "images at their own sizes (\(sizing))"
        }
    }

    /// "336x336" or "their own sizes (smart_resize, factor 28, 3136...12845056 pixels)", for messages.
    package var description: String {
        switch self {
        case .fixed(let size): return "\(size)x\(size)"
        case .own(let sizing): return "their own sizes (\(sizing))"
        }
    }
}

/// What dataset.json's `image_sizing` records about images stored at their own sizes: the
/// smart_resize settings they were made with, so a model can check that it would have made
/// the same sizes (see `mismatch(with:)`).
package struct OwnImageSizing: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Both sides of every image are multiples of this (patch_size x merge_size).
    package var factor: Int
    /// smart_resize's area bounds (preprocessor_config.json's min_pixels / max_pixels).
    package var minPixels: Int
    package var maxPixels: Int

    enum CodingKeys: String, CodingKey {
        case factor, minPixels = "min_pixels", maxPixels = "max_pixels"
    }

    package init(factor: Int, minPixels: Int, maxPixels: Int) {
        self.factor = factor
        self.minPixels = minPixels
        self.maxPixels = maxPixels
    }

    /// The sizing a Qwen2-VL image processor produces.
    package init(_ settings: Qwen2VLImageSettings) {
        self.init(factor: settings.factor, minPixels: settings.minPixels, maxPixels: settings.maxPixels)
    }

    /// patch_size and merge_size are at most 1024 each (Qwen2VLImageSettings.validate).
    static let factorLimit = 1 << 20

    package var description: String { "smart_resize, factor \(factor), \(minPixels)...\(maxPixels) pixels" }

    /// Why the settings cannot be those of an image processor, naming the key; nil when they can.
    func problem() -> String? {
        guard (1...Self.factorLimit).contains(factor) else { return "'factor' is \(factor); it must be 1...\(Self.factorLimit)" }
        let limit = Qwen2VLImageSettings.pixelLimit
        guard (1...limit).contains(minPixels), (minPixels...limit).contains(maxPixels) else {
            return "'min_pixels' \(minPixels) and 'max_pixels' \(maxPixels) must satisfy 1 <= min_pixels <= max_pixels <= \(limit)"
        }
        return nil
    }

    /// The largest area smart_resize can return with these settings: max_pixels, except that for
    /// extreme aspect ratios (up to 200:1) flooring to at least one factor allows up to
    /// 200 factor^2, and the ceiling branch below min_pixels up to (sqrt(min_pixels) + 15 factor)^2
    /// (each side grows by less than one factor; sqrt(200) + 1/sqrt(200) < 15). A stored image
    /// larger than this is damage, refused before its bytes are allocated.
    package var largestArea: Int {
        let ceilingSide = Int(Double(minPixels).squareRoot().rounded(.up)) + 15 * factor
        return max(maxPixels, 200 * factor * factor, ceilingSide * ceilingSide)
    }

    /// Why an image of `width` x `height` cannot be one of these (nil when it can): both sides
    /// positive multiples of the factor, the area within `largestArea`. Never overflows.
    package func sizeProblem(width: Int, height: Int) -> String? {
        guard width > 0, height > 0 else { return "\(width) x \(height) pixels is empty" }
        guard width % factor == 0, height % factor == 0 else {
            return "\(width) x \(height) pixels: both sides must be multiples of the factor \(factor)"
        }
        guard height <= largestArea / width else {
            return "\(width) x \(height) pixels is more than smart_resize makes with these settings (at most \(largestArea) pixels)"
        }
        return nil
    }

    /// How a model's processor settings differ from the data set's (nil when the stored sizes
    /// are what it would make), for a training or evaluation run to refuse the pair.
    package func mismatch(with settings: Qwen2VLImageSettings) -> String? {
        let wanted = OwnImageSizing(settings)
        guard wanted != self else { return nil }
        return "the data set's images were smart-resized with \(self), the model's preprocessor_config.json gives \(wanted); "
            + "re-run discern prepare with --model pointing at this model"
    }
}
