import Foundation
import Formats
import Images
import Models

// preprocessor_config.json of a Qwen2-VL model directory, read as transformers 5.24's
// Qwen2VLImageProcessor reads it: a missing key takes the class default, `min_pixels` /
// `max_pixels` (older files) override `size`, unknown keys (processor_class, ...) are ignored.
// Every step Discern does not reproduce is refused by name instead of silently skipped.

extension Qwen2VLImageSettings {
    /// Reads preprocessor_config.json from a Hugging Face Qwen2-VL model directory.
    package static func load(directory: URL) throws(FormatError) -> Qwen2VLImageSettings {
        let path = directory.appendingPathComponent("preprocessor_config.json").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw FormatError(file: path, "not found. A Qwen2-VL model directory needs the preprocessor_config.json its "
                              + "processor was saved with (the hub ships one; save_pretrained writes one)")
        }
        return try parse(readFileBytes(path), source: path)
    }

    /// Decodes preprocessor_config.json bytes; `source` names the file in errors.
    package static func parse(_ bytes: [UInt8], source: String) throws(FormatError) -> Qwen2VLImageSettings {
        let root = try JSONNode.parse(bytes, file: source).object()
        try checkProcessorType(root)
        try checkSupportedSteps(root)
        let bounds = try pixelBounds(root)
        let settings = Qwen2VLImageSettings(
            patchSize: try root.optional("patch_size")?.integer() ?? 14,
            mergeSize: try root.optional("merge_size")?.integer() ?? 2,
            temporalPatchSize: try root.optional("temporal_patch_size")?.integer() ?? 2,
            minPixels: bounds.min, maxPixels: bounds.max,
            rescaleFactor: try root.optional("rescale_factor")?.double() ?? 1.0 / 255.0,
            mean: try channelValues(root, "image_mean") ?? ImagePreprocessingConfig.clipMean,
            std: try channelValues(root, "image_std") ?? ImagePreprocessingConfig.clipStd)
        do {
            try settings.validate()
        } catch {
            throw FormatError(file: source, error.message)
        }
        return settings
    }

    /// A LLaVA (CLIPImageProcessor) file would otherwise pass with Qwen2-VL's defaults.
    private static func checkProcessorType(_ root: JSONObjectNode) throws(FormatError) {
        guard let node = root.optional("image_processor_type") else { return }
        let type = try node.string()
        guard type.hasPrefix("Qwen2VLImageProcessor") else {
            throw node.failure("is \"\(type)\", not Qwen2-VL's image processor (Qwen2VLImageProcessor); "
                               + "this preprocessor_config.json belongs to another kind of model")
        }
    }

    /// do_resize, do_rescale, do_normalize, do_convert_rgb must stay on and resample bicubic.
    private static func checkSupportedSteps(_ root: JSONObjectNode) throws(FormatError) {
        let steps = [("do_resize", "the vision tower needs sides that are multiples of patch_size x merge_size"),
                     ("do_rescale", "the model was trained on rescaled pixels"),
                     ("do_normalize", "the model was trained on normalised pixels"),
                     ("do_convert_rgb", "images are always decoded to RGB")]
        for (key, why) in steps {
            if let node = root.optional(key), try !node.bool() {
                throw node.failure("is false, which Discern does not support (\(why)); set it to true")
            }
        }
        if let node = root.optional("resample") {
            let filter = try node.integer()
            guard filter == 3 else {
                throw node.failure("is \(filter); Discern reproduces only Pillow's bicubic resize (3), Qwen2-VL's own "
                                   + "value. Set it to 3")
            }
        }
    }

    /// transformers' class default is size {shortest_edge: 56*56, longest_edge: 28*28*1280};
    /// a `size` in the file replaces it whole, then top-level min_pixels / max_pixels override
    /// its two entries (and drop the size.min_pixels / size.max_pixels of transformers 4.x files).
    private static func pixelBounds(_ root: JSONObjectNode) throws(FormatError) -> (min: Int, max: Int) {
        let minOverride = try root.optional("min_pixels")?.integer()
        let maxOverride = try root.optional("max_pixels")?.integer()
        guard let sizeNode = root.optional("size") else { return (minOverride ?? 56 * 56, maxOverride ?? 28 * 28 * 1280) }
        let size = try sizeNode.object()
        var shortest: Int?, longest: Int?
        for (key, node) in size.nodes {
            switch key {
            case "shortest_edge": shortest = try node.integer()
            case "longest_edge": longest = try node.integer()
            case "min_pixels" where minOverride != nil, "max_pixels" where maxOverride != nil: continue
            default:
                throw node.failure("is not a key transformers 5.24's Qwen2-VL processor accepts in size, which takes "
                                   + "shortest_edge and longest_edge (the minimum and maximum pixel counts); rename or remove it")
            }
        }
        guard let minimum = minOverride ?? shortest else {
            throw sizeNode.failure("has no shortest_edge (the minimum pixel count, e.g. 3136) and there is no min_pixels; add one")
        }
        guard let maximum = maxOverride ?? longest else {
            throw sizeNode.failure("has no longest_edge (the maximum pixel count, e.g. 12845056) and there is no max_pixels; add one")
        }
        return (minimum, maximum)
    }

    /// `image_mean` / `image_std`: three numbers, or one for every channel (transformers repeats it).
    private static func channelValues(_ root: JSONObjectNode, _ key: String) throws(FormatError) -> [Double]? {
        guard let node = root.optional(key) else { return nil }
        if case .array = node.value {
            var values: [Double] = []
            for element in try node.array() { values.append(try element.double()) }
            guard values.count == 3 else { throw node.failure("has \(values.count) values; it needs 3 (R, G, B) or one number") }
            return values
        }
        return [Double](repeating: try node.double(), count: 3)
    }
}

extension Qwen2VLImageSettings {
    /// The processor must lay patches out as the model's vision tower reads them.
    package func check(against config: Qwen2VLConfig, source: String) throws(FormatError) {
        let v = config.vision
        for (key, mine, model, modelKey) in [("patch_size", patchSize, v.patchSize, "patch_size"),
                                             ("merge_size", mergeSize, v.spatialMergeSize, "spatial_merge_size"),
                                             ("temporal_patch_size", temporalPatchSize, v.temporalPatchSize, "temporal_patch_size")]
        where mine != model {
            throw FormatError(file: source, entry: key, "is \(mine) but config.json's vision_config.\(modelKey) is \(model); "
                              + "the processor must cut patches as the vision tower reads them, so use the preprocessor_config.json saved with this model")
        }
    }
}
