/// An 8-bit RGB image, pixels interleaved row by row: pixels is (height, width, 3).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// (height, width, 3): red, green, blue of pixel (x, y) at 3 * (y * width + x).
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage: \(width) x \(height) is empty")
        precondition(pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width) x \(height) x 3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image filled with one colour.
    public init(width: Int, height: Int, filledWith colour: (red: UInt8, green: UInt8, blue: UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = colour.red; pixels[i + 1] = colour.green; pixels[i + 2] = colour.blue
        }
        self.init(width: width, height: height, pixels: pixels)
    }
}

/// A file that cannot be turned into an RGBImage. The description names the file, says what
/// is wrong and what to do about it.
public struct ImageError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        case unreadable, empty, notAnImage, corrupt, truncated, tooLarge, unsupported, outOfMemory
        case encodingFailed
        /// Qwen2-VL's processor refuses images more than 200 times longer than wide (or the reverse).
        case aspectRatioTooLarge
        /// An image given as already resized does not have the size the processor needs.
        case wrongSize
    }

    public let kind: Kind
    /// The file name (or other label) the caller gave for the data.
    public let source: String
    /// What is wrong and the fix, without the source.
    public let detail: String

    public init(_ kind: Kind, source: String, _ detail: String) {
        self.kind = kind
        self.source = source
        self.detail = detail
    }

    public var description: String { "\(source): \(detail)" }
}
