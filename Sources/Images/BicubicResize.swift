// Bicubic resize that reproduces Pillow's `Image.resize(size, Image.BICUBIC)` on 8-bit RGB
// bit for bit (Pillow's libImaging/Resample.c, re-implemented from its description):
// - a separable convolution with the a = -0.5 cubic kernel, support 2;
// - when shrinking, the kernel is stretched by the shrink factor (antialiasing), so it
//   averages over all the source pixels an output pixel covers;
// - each output pixel's weights are divided by their sum, then turned into integers with
//   22 fractional bits, rounding half away from zero;
// - two passes, the first one's result rounded and clipped to UInt8 before the second reads it;
//   a pass whose size does not change is skipped, and an unchanged size returns the image as it
//   is. Which pass goes first depends on the Pillow version (`ResamplePassOrder`).
// Every double operation below happens in the same order as in Pillow, so the weights, and
// with them the rounded bytes, come out identical.

/// Pillow's bicubic kernel with a = -0.5 (Keys' cubic convolution), evaluated as Pillow writes it.
@inline(__always)
private func cubicKernel(_ t: Double) -> Double {
    let x = abs(t)
    if x < 1.0 { return (1.5 * x - 2.5) * x * x + 1 }             // ((a + 2) x - (a + 3)) x^2 + 1
    if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * -0.5 }        // a (x^3 - 5 x^2 + 8 x - 4)
    return 0
}

/// Fixed-point weights have this many fractional bits: 32-bit sums of 8-bit pixels times
/// weights (whose negative lobes can push a sum below 0 or above 1) keep 2 bits of headroom.
private let weightFractionBits = 22

/// The weights of one resampling pass: output pixel i reads `count[i]` input pixels starting at
/// `first[i]`, with weights `weights[i * taps ..< i * taps + count[i]]`.
struct ResampleWeights {
    let taps: Int
    var first: [Int]
    var count: [Int]
    /// (outputSize, taps) with `weightFractionBits` fractional bits.
    var weights: [Int32]

    init(inputSize: Int, outputSize: Int) {
        let scale = Double(inputSize) / Double(outputSize)
        let filterScale = max(scale, 1.0)                  // stretch the kernel only when shrinking
        let support = 2.0 * filterScale
        taps = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outputSize)
        count = [Int](repeating: 0, count: outputSize)
        weights = [Int32](repeating: 0, count: outputSize * taps)
        let inverseFilterScale = 1.0 / filterScale
        let one = Double(1 << weightFractionBits)
        var real = [Double](repeating: 0, count: taps)
        for i in 0..<outputSize {
            let centre = (Double(i) + 0.5) * scale
            // Int(_:) truncates toward zero, as Pillow's C casts do.
            let low = max(Int(centre - support + 0.5), 0)
            let high = min(Int(centre + support + 0.5), inputSize)
            let n = high - low
            var sum = 0.0
            for k in 0..<n {
                let w = cubicKernel((Double(k + low) - centre + 0.5) * inverseFilterScale)
                real[k] = w
                sum += w
            }
            for k in 0..<n {
                let w = sum != 0 ? real[k] / sum : real[k]
                weights[i * taps + k] = Int32(w < 0 ? -0.5 + w * one : 0.5 + w * one)
            }
            first[i] = low
            count[i] = n
        }
    }
}

/// Rounds a fixed-point sum (which already carries the +0.5) to a byte, clipping to 0...255.
@inline(__always)
private func clipToByte(_ sum: Int) -> UInt8 {
    let value = sum >> weightFractionBits
    return UInt8(truncatingIfNeeded: value < 0 ? 0 : value > 255 ? 255 : value)
}

private let roundingHalf = 1 << (weightFractionBits - 1)

/// Horizontal pass over rows [firstRow, firstRow + rows) of `input`.
/// input: (inputHeight, inputWidth, 3); output: (rows, weights.count, 3).
private func resampleRows(_ input: UnsafeBufferPointer<UInt8>, inputWidth: Int, firstRow: Int, rows: Int,
                          _ w: ResampleWeights, _ output: UnsafeMutableBufferPointer<UInt8>) {
    let outputWidth = w.first.count
    w.weights.withUnsafeBufferPointer { weights in
        for y in 0..<rows {
            let inRow = (firstRow + y) * inputWidth * 3
            let outRow = y * outputWidth * 3
            for x in 0..<outputWidth {
                var r = roundingHalf, g = roundingHalf, b = roundingHalf
                let start = inRow + w.first[x] * 3
                for k in 0..<w.count[x] {
                    let weight = Int(weights[x * w.taps + k])
                    r += Int(input[start + 3 * k]) * weight
                    g += Int(input[start + 3 * k + 1]) * weight
                    b += Int(input[start + 3 * k + 2]) * weight
                }
                output[outRow + 3 * x] = clipToByte(r)
                output[outRow + 3 * x + 1] = clipToByte(g)
                output[outRow + 3 * x + 2] = clipToByte(b)
            }
        }
    }
}

/// Vertical pass. `rowOffset` is subtracted from every source row index (the horizontal pass
/// kept only the rows the vertical pass reads).
/// input: (rows, width, 3); output: (weights.count, width, 3).
private func resampleColumns(_ input: UnsafeBufferPointer<UInt8>, width: Int, rowOffset: Int,
                             _ w: ResampleWeights, _ output: UnsafeMutableBufferPointer<UInt8>) {
    let rowLength = width * 3
    w.weights.withUnsafeBufferPointer { weights in
        for y in 0..<w.first.count {
            let start = (w.first[y] - rowOffset) * rowLength
            let outRow = y * rowLength
            for c in 0..<rowLength {
                var sum = roundingHalf
                for k in 0..<w.count[y] {
                    sum += Int(input[start + k * rowLength + c]) * Int(weights[y * w.taps + k])
                }
                output[outRow + c] = clipToByte(sum)
            }
        }
    }
}

/// Which of the two resampling passes runs first. The order changes the rounding of the
/// intermediate bytes, so each Pillow version is matched only by its own order.
public enum ResamplePassOrder: String, Sendable, Codable {
    /// Pillow 13: vertical first when the height shrinks by more than twice as many pixels as the
    /// width does (`inH - outH > 0 && inH - outH > 2 * (inW - outW)`), else horizontal first. In
    /// CLIP's shortest-edge resize that means portrait images taller than 2:1 being shrunk.
    case pillow13
    /// Pillow up to 12: always horizontal first (12.3 also went vertical first for images more
    /// than 100 times taller than wide).
    case horizontalFirst

    func verticalFirst(from image: (width: Int, height: Int), to size: (width: Int, height: Int)) -> Bool {
        switch self {
        case .horizontalFirst: return false
        case .pillow13:
            let heightShrink = image.height - size.height, widthShrink = image.width - size.width
            return heightShrink > 0 && heightShrink > 2 * widthShrink
        }
    }
}

/// Resizes like Pillow's `image.resize((width, height), Image.BICUBIC)` on an RGB image.
/// An image already `width` x `height` comes back unchanged (Pillow returns a copy).
public func resizeBicubic(_ image: RGBImage, width: Int, height: Int,
                          passOrder: ResamplePassOrder = .pillow13) -> RGBImage {
    precondition(width > 0 && height > 0, "resizeBicubic: target \(width) x \(height) is empty")
    let horizontal = width != image.width
    let vertical = height != image.height
    if !horizontal && !vertical { return image }
    if passOrder.verticalFirst(from: (image.width, image.height), to: (width, height)) {
        var current = image
        if vertical {
            current = resampleVertically(current, firstRow: 0, ResampleWeights(inputSize: image.height, outputSize: height))
        }
        if horizontal {
            current = resampleHorizontally(current, firstRow: 0, rows: height,
                                           ResampleWeights(inputSize: image.width, outputSize: width))
        }
        return current
    }
    // Horizontal first: that pass only needs the source rows the vertical pass will read.
    let verticalWeights = vertical ? ResampleWeights(inputSize: image.height, outputSize: height) : nil
    var firstRow = 0, rows = image.height
    if let v = verticalWeights {
        firstRow = v.first[0]
        rows = v.first[height - 1] + v.count[height - 1] - firstRow
    }
    guard horizontal else { return resampleVertically(image, firstRow: 0, verticalWeights!) }
    let narrowed = resampleHorizontally(image, firstRow: firstRow, rows: rows,
                                        ResampleWeights(inputSize: image.width, outputSize: width))
    guard let v = verticalWeights else { return narrowed }
    return resampleVertically(narrowed, firstRow: firstRow, v)
}

/// Rows [firstRow, firstRow + rows) of `image`, resampled to `weights.count` columns.
private func resampleHorizontally(_ image: RGBImage, firstRow: Int, rows: Int, _ w: ResampleWeights) -> RGBImage {
    let width = w.first.count
    var pixels = [UInt8](repeating: 0, count: rows * width * 3)
    image.pixels.withUnsafeBufferPointer { input in
        pixels.withUnsafeMutableBufferPointer { output in
            resampleRows(input, inputWidth: image.width, firstRow: firstRow, rows: rows, w, output)
        }
    }
    return RGBImage(width: width, height: rows, pixels: pixels)
}

/// `image` resampled to `weights.count` rows; its row 0 is source row `firstRow`.
private func resampleVertically(_ image: RGBImage, firstRow: Int, _ w: ResampleWeights) -> RGBImage {
    let height = w.first.count
    var pixels = [UInt8](repeating: 0, count: height * image.width * 3)
    image.pixels.withUnsafeBufferPointer { input in
        pixels.withUnsafeMutableBufferPointer { output in
            resampleColumns(input, width: image.width, rowOffset: firstRow, w, output)
        }
    }
    return RGBImage(width: image.width, height: height, pixels: pixels)
}
