import Foundation
import Datasets
import Images
import ModelFiles

/// How `discern prepare` sizes the images it stores (docs/data.md).
package enum ImportSizing: Sendable, Equatable {
    /// Shortest edge to S (bicubic), then centre crop or pad to a square: (S, S, 3), format 2.
    case fixed(size: Int, mode: ImagePreprocessingConfig.Mode)
    /// Qwen2-VL: smart_resize with these processor settings, each image kept at its own size, format 3.
    case smartResized(Qwen2VLImageSettings)

    /// The layout of the data set this sizing writes.
    package var layout: ImageLayout {
        switch self {
        case .fixed(let size, _): return .fixed(size: size)
        case .smartResized(let settings): return .own(OwnImageSizing(settings))
        }
    }

    /// "336x336, crop" or "own sizes: smart_resize, factor 28, 3136...12845056 pixels", for the summary.
    package var summary: String {
        switch self {
        case .fixed(let size, let mode): return "\(size)x\(size), \(mode.rawValue)"
        case .smartResized(let settings): return "own sizes: \(OwnImageSizing(settings))"
        }
    }

    /// What a model directory asks for: LLaVA's `vision_config.image_size` with `mode`, or a
    /// Qwen2-VL directory's preprocessor_config.json. Both files are checked like any model's.
    package static func ofModel(_ directory: String, mode: ImagePreprocessingConfig.Mode) throws -> ImportSizing {
        switch try ModelDirectory(path: directory).family {
        case .llava(let config): return .fixed(size: config.vision.imageSize, mode: mode)
        case .qwen2VL(_, let images): return .smartResized(images)
        }
    }
}

/// Turns a decoded manifest image into the pixels a shard stores.
enum ImportResizer: Sendable {
    case fixed(ImagePreprocessor)
    case smartResized(Qwen2VLImageProcessor)

    init(_ sizing: ImportSizing, manifest: String) throws {
        do {
            switch sizing {
            case .fixed(let size, let mode):
                self = .fixed(try ImagePreprocessor(config: ImagePreprocessingConfig(mode: mode, shortestEdge: size)))
            case .smartResized(let settings):
                self = .smartResized(try Qwen2VLImageProcessor(settings: settings))
            }
        } catch {
            throw DatasetError(file: manifest, "image sizing \(sizing.summary): \(error)")
        }
    }

    /// The stored image; throws `.aspectRatioTooLarge` (naming `source`) for what smart_resize refuses.
    func stored(_ image: RGBImage, source: String) throws(ImageError) -> RGBImage {
        switch self {
        case .fixed(let preprocessor): return preprocessor.resizedAndCropped(image)
        case .smartResized(let processor): return try processor.resized(image, source: source)
        }
    }
}
