/// An 8-bit RGB image, pixels interleaved row by row: pixels is (height, width, 3).
package struct RGBImage: Sendable, Equatable {
    package let width: Int
    package let height: Int
    /// (height, width, 3): red, green, blue of pixel (x, y) at 3 * (y * width + x).
    package var pixels: [UInt8]

    package init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage: \(width) x \(height) is empty")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width) x \(height) x 3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    package init(width: Int, height: Int, filledWith colour: (red: UInt8, green: UInt8, blue: UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = colour.red; pixels[i + 1] = colour.green; pixels[i + 2] = colour.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// A file that cannot be turned into an RGBImage. The description names the file, says what
/// is wrong and what to do about it.
package struct ImageError: Error, CustomStringConvertible, Equatable {
    package enum Kind: Sendable, Equatable {
        case unreadable, empty, notAnImage, corrupt, truncated, tooLarge, unsupported, outOfMemory
        case encodingFailed
    }

    package let kind: Kind
    /// The file name (or other label) the caller gave for the data.
    package let source: String
    /// What is wrong and the fix, without the source.
    package let detail: String

    package init(_ kind: Kind, source: String, _ detail: String) {
        self.kind = kind
        self.source = source
        self.detail = detail
    }

    package var description: String { "\(source): \(detail)" }
}
