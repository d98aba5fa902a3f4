// The geometric steps of CLIP/LLaVA preprocessing, each matching the Python code it replaces.

/// The size transformers' `get_resize_output_image_size(..., default_to_square=False)` picks:
/// the short side becomes `shortestEdge` and the long side `int(shortestEdge * long / short)`,
/// truncated (not rounded), so 500 x 375 -> 448 x 336.
public func shortestEdgeResizeSize(width: Int, height: Int, shortestEdge: Int) -> (width: Int, height: Int) {
    precondition(width > 0 && height > 0 && shortestEdge > 0, "shortestEdgeResizeSize: empty size")
    let (short, long) = width <= height ? (width, height) : (height, width)
    // Python's int / int is the correctly rounded quotient, as is this Double division.
    let newLong = Int(Double(shortestEdge * long) / Double(short))
    return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
}

/// LLaVA's `expand2square`: the image centred on a square canvas of `background`, offset
/// ((side - width) / 2, (side - height) / 2) rounded down. A square image comes back as it is.
public func expandToSquare(_ image: RGBImage, background: (red: UInt8, green: UInt8, blue: UInt8)) -> RGBImage {
    if image.width == image.height { return image }
    let side = max(image.width, image.height)
    var square = RGBImage(width: side, height: side, filledWith: background)
    let left = (side - image.width) / 2, top = (side - image.height) / 2
    let rowBytes = image.width * 3
    square.pixels.withUnsafeMutableBufferPointer { canvas in
        image.pixels.withUnsafeBufferPointer { source in
            for y in 0..<image.height {
                let to = ((top + y) * side + left) * 3
                (canvas.baseAddress! + to).update(from: source.baseAddress! + y * rowBytes, count: rowBytes)
            }
        }
    }
    return square
}

/// transformers' `center_crop`: the window starts at ((height - cropHeight) // 2,
/// (width - cropWidth) // 2), rounded down. Where the image is smaller than the crop it is first
/// centred on a zero (black) canvas with the extra split ceil-first, so the crop is always
/// exactly cropWidth x cropHeight.
public func centerCrop(_ image: RGBImage, width cropWidth: Int, height cropHeight: Int) -> RGBImage {
    precondition(cropWidth > 0 && cropHeight > 0, "centerCrop: crop \(cropWidth) x \(cropHeight) is empty")
    if image.width == cropWidth && image.height == cropHeight { return image }
    // Source index of crop pixel 0 along one axis; out-of-range source indices are padding.
    func start(_ size: Int, _ crop: Int) -> Int {
        size >= crop ? (size - crop) / 2 : -((crop - size + 1) / 2)
    }
    let top = start(image.height, cropHeight), left = start(image.width, cropWidth)
    var pixels = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
    let columns = max(0, -left)..<min(cropWidth, image.width - left)
    for y in 0..<cropHeight {
        let sourceY = y + top
        guard sourceY >= 0 && sourceY < image.height, !columns.isEmpty else { continue }
        let from = (sourceY * image.width + left + columns.lowerBound) * 3
        let to = (y * cropWidth + columns.lowerBound) * 3
        pixels.replaceSubrange(to..<to + columns.count * 3, with: image.pixels[from..<from + columns.count * 3])
    }
    return RGBImage(width: cropWidth, height: cropHeight, pixels: pixels)
}
