import Images

/// A contact sheet of synthetic images for looking at them: `columns` images a row, each
/// scaled up `scale` times with nearest-neighbour (so anti-aliasing stays visible), separated
/// by a 2-pixel white grid.
package func contactSheet(_ images: [[UInt8]], side: Int, columns: Int, scale: Int) -> RGBImage {
    precondition(!images.isEmpty && columns > 0 && scale > 0, "contactSheet needs images, columns and a scale")
    precondition(images.allSatisfy { $0.count == side * side * 3 }, "contactSheet: every image must be (side, side, 3)")
    let gap = 2, cell = side * scale
    let rows = (images.count + columns - 1) / columns
    let width = columns * cell + (columns + 1) * gap, height = rows * cell + (rows + 1) * gap
    var pixels = [UInt8](repeating: 255, count: width * height * 3)
    for (n, image) in images.enumerated() {
        let left = gap + (n % columns) * (cell + gap), top = gap + (n / columns) * (cell + gap)
        for y in 0..<cell {
            for x in 0..<cell {
                let source = ((y / scale) * side + x / scale) * 3, target = ((top + y) * width + left + x) * 3
                for c in 0..<3 { pixels[target + c] = image[source + c] }
            }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}
