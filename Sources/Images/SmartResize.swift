// Qwen2-VL's choice of image size (transformers' `smart_resize`), reproduced operation for
// operation: Python's int / int is the correctly rounded quotient, as is a Double division of two
// exactly representable integers, and math.sqrt, floor and ceil are IEEE's, so the same order of
// Double operations gives the same sizes.

/// The most `max(h, w) / min(h, w)` may be; transformers raises above it.
public let smartResizeMaxAspectRatio = 200.0

/// The size Qwen2-VL's processor resizes a `width` x `height` image to: both sides multiples of
/// `factor` (patch size x merge size), the area kept within [minPixels, maxPixels] where the
/// aspect ratio allows it.
/// 1. Each side is rounded to the nearest multiple of `factor` with Python's `round`, ties to
///    even (70 / 28 = 2.5 -> 2, 98 / 28 = 3.5 -> 4); a side below factor / 2 becomes 0.
/// 2. Above maxPixels: beta = sqrt(h w / maxPixels), each side floor(side / beta / factor) x
///    factor, at least factor. Below minPixels: beta = sqrt(minPixels / (h w)), each side
///    ceil(side x beta / factor) x factor. (Either can leave the area outside the range for
///    extreme aspect ratios, exactly as transformers does.)
/// Throws `.aspectRatioTooLarge` above 200:1, naming `source` and the size.
public func smartResize(width: Int, height: Int, factor: Int, minPixels: Int, maxPixels: Int,
                        source: String) throws(ImageError) -> (width: Int, height: Int) {
    precondition(width > 0 && height > 0, "smartResize: \(width) x \(height) is empty")
    precondition(factor > 0 && minPixels > 0 && maxPixels > 0, "smartResize: factor and pixel bounds must be positive")
    let ratio = Double(max(height, width)) / Double(min(height, width))
    if ratio > smartResizeMaxAspectRatio {
        throw ImageError(.aspectRatioTooLarge, source: source,
                         "is \(width) x \(height) pixels, an aspect ratio of \(ratio); Qwen2-VL's image processor accepts at "
                         + "most \(Int(smartResizeMaxAspectRatio)):1 (transformers raises 'absolute aspect ratio must be smaller "
                         + "than 200'). Crop or pad the image, or remove it from the data set")
    }
    let h = Double(height), w = Double(width), f = Double(factor)
    var newHeight = Int((h / f).rounded(.toNearestOrEven)) * factor
    var newWidth = Int((w / f).rounded(.toNearestOrEven)) * factor
    if newHeight * newWidth > maxPixels {
        let beta = (Double(height * width) / Double(maxPixels)).squareRoot()
        newHeight = max(factor, Int((h / beta / f).rounded(.down)) * factor)
        newWidth = max(factor, Int((w / beta / f).rounded(.down)) * factor)
    } else if newHeight * newWidth < minPixels {
        let beta = (Double(minPixels) / Double(height * width)).squareRoot()
        newHeight = Int((h * beta / f).rounded(.up)) * factor
        newWidth = Int((w * beta / f).rounded(.up)) * factor
    }
    return (newWidth, newHeight)
}
