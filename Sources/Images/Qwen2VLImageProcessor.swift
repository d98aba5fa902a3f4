import Kernels

/// The patch grid of one image, transformers' `image_grid_thw` row: (1, height / patch, width / patch).
public struct Qwen2VLImageGrid: Sendable, Equatable {
    /// Frame groups: 1 for a still image.
    public let temporal: Int
    /// Patches down and across.
    public let height: Int
    public let width: Int

    public init(temporal: Int, height: Int, width: Int) {
        self.temporal = temporal
        self.height = height
        self.width = width
    }

    /// Rows of pixel_values.
    public var patchCount: Int { temporal * height * width }
}

/// One image's vision-tower input: `values` is pixel_values, (grid.patchCount, patchLength), each
/// row one patch (channel, frame, row, column; column fastest), rows in merge-window order.
public struct Qwen2VLPixelValues: Sendable, Equatable {
    public let grid: Qwen2VLImageGrid
    public let patchLength: Int
    public var values: [Float]
}

/// Qwen2-VL's image processor (transformers' `Qwen2VLImageProcessorPil`): smart_resize, Pillow
/// bicubic, rescale, normalise, then the patch layout of `patchify`. Two steps are separate so a
/// data set can store the resized bytes: `resized` gives them, `pixelValues(ofResized:)` turns
/// them into the tensor.
public struct Qwen2VLImageProcessor: Sendable {
    public let settings: Qwen2VLImageSettings
    private let normalisation: PixelNormalisation

    public init(settings: Qwen2VLImageSettings = Qwen2VLImageSettings()) throws(ImagePreprocessingConfigError) {
        try settings.validate()
        self.settings = settings
        normalisation = PixelNormalisation(rescaleFactor: settings.rescaleFactor, mean: settings.mean, std: settings.std)
    }

    /// The size `image` is resized to (smartResize with these settings); `source` names it in errors.
    public func resizedSize(width: Int, height: Int, source: String) throws(ImageError) -> (width: Int, height: Int) {
        try smartResize(width: width, height: height, factor: settings.factor, minPixels: settings.minPixels,
                        maxPixels: settings.maxPixels, source: source)
    }

    /// The 8-bit image at its smart-resized size: what PIL holds before transformers rescales it.
    public func resized(_ image: RGBImage, source: String) throws(ImageError) -> RGBImage {
        let size = try resizedSize(width: image.width, height: image.height, source: source)
        return resizeBicubic(image, width: size.width, height: size.height, passOrder: settings.resizePassOrder)
    }

    /// The grid of an image already at its resized size; throws `.wrongSize` unless both sides are
    /// multiples of patch size x merge size.
    public func grid(ofResized image: RGBImage, source: String) throws(ImageError) -> Qwen2VLImageGrid {
        let factor = settings.factor
        guard image.width % factor == 0 && image.height % factor == 0 else {
            throw ImageError(.wrongSize, source: source, "is \(image.width) x \(image.height) pixels, but an image given as "
                             + "resized needs both sides multiples of \(factor) (patch_size \(settings.patchSize) x merge_size "
                             + "\(settings.mergeSize)); resize it with the same preprocessor settings, or pass the original")
        }
        return Qwen2VLImageGrid(temporal: 1, height: image.height / settings.patchSize, width: image.width / settings.patchSize)
    }

    /// Resizes, rescales, normalises and patchifies one image.
    public func preprocess(_ image: RGBImage, source: String) throws(ImageError) -> Qwen2VLPixelValues {
        try pixelValues(ofResized: resized(image, source: source), source: source)
    }

    /// pixel_values of an image already at its resized size (see `resized`).
    public func pixelValues(ofResized image: RGBImage, source: String) throws(ImageError) -> Qwen2VLPixelValues {
        let grid = try grid(ofResized: image, source: source)
        let count = grid.patchCount * settings.patchLength
        let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialised in
            writePatches(image, grid: grid, into: buffer.baseAddress!)
            initialised = count
        }
        return Qwen2VLPixelValues(grid: grid, patchLength: settings.patchLength, values: values)
    }

    /// pixel_values of an image already at its resized size, written to `output`:
    /// (grid.patchCount, patchLength). Returns the grid.
    public func pixelValues<T: KernelScalar>(ofResized image: RGBImage, source: String,
                                             into output: UnsafeMutablePointer<T>) throws(ImageError) -> Qwen2VLImageGrid {
        let grid = try grid(ofResized: image, source: source)
        writePatches(image, grid: grid, into: output)
        return grid
    }

    /// transformers reshapes the normalised (C, H, W) image to (C, gh/m, m, p, gw/m, m, p), moves
    /// the axes to (gh/m, gw/m, m, m, C, p, p), repeats each patch over T frames after C and
    /// flattens: row ((bh gw/m + bw) m + mh) m + mw is the patch at patch row bh m + mh, patch
    /// column bw m + mw, so each m x m window's patches are consecutive rows; within a row, value
    /// ((c T + t) p + y) p + x is pixel (y, x) of the patch, channel c, for every frame t.
    private func writePatches<T: KernelScalar>(_ image: RGBImage, grid: Qwen2VLImageGrid, into output: UnsafeMutablePointer<T>) {
        let p = settings.patchSize, m = settings.mergeSize, frames = settings.temporalPatchSize
        let windowsAcross = grid.width / m, frameLength = p * p, rowLength = settings.patchLength
        normalisation.withTable { table in
            image.pixels.withUnsafeBufferPointer { pixels in
                for row in 0..<grid.patchCount {
                    let mw = row % m, mh = (row / m) % m, window = row / (m * m)
                    let top = (window / windowsAcross * m + mh) * p, left = (window % windowsAcross * m + mw) * p
                    let patch = output + row * rowLength
                    for c in 0..<3 {
                        let firstFrame = patch + c * frames * frameLength
                        for y in 0..<p {
                            let source = ((top + y) * image.width + left) * 3 + c
                            for x in 0..<p {
                                firstFrame[y * p + x] = T(table[c * 256 + Int(pixels[source + 3 * x])])
                            }
                        }
                        for t in 1..<frames {
                            (firstFrame + t * frameLength).update(from: firstFrame, count: frameLength)
                        }
                    }
                }
            }
        }
    }
}
