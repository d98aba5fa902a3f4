import Images
import ModelFiles
import Models

/// How a family's images become its vision encoder's input.
package enum ImageInput: Sendable {
    /// Every image resized (and cropped or padded) to one square side: LLaVA's CLIP.
    case fixed(ImagePreprocessor, size: Int)
    /// Each image smart-resized within the processor's pixel bounds and cut into patch rows:
    /// Qwen2-VL's processor.
    case ownSize(Qwen2VLImageProcessor)

    package init(_ family: ModelFamily, mode: ImagePreprocessingConfig.Mode) throws {
        switch family {
        case .llava(let config):
            let size = config.vision.imageSize
            self = .fixed(try ImagePreprocessor(config: ImagePreprocessingConfig(mode: mode, shortestEdge: size, cropHeight: size, cropWidth: size)),
                          size: size)
        case .qwen2VL(_, let settings):
            self = .ownSize(try Qwen2VLImageProcessor(settings: settings))
        }
    }
}

extension Embedder {
    /// Images of their own sizes, a batch at a time: the batch's patch rows one image after
    /// another, each image's prompt reading its own run of feature rows.
    func embedOwnSizes(_ images: [RGBImage], progress: ((Int) -> Void)?) throws -> [Float] {
        guard case .ownSize(let processor) = imageInput else { preconditionFailure("embedOwnSizes on a fixed-size model") }
        var output: [Float] = []
        output.reserveCapacity(images.count * width)
        for start in stride(from: 0, to: images.count, by: batchSize) {
            var pixels: [Float] = [], grids: [PatchGrid] = [], items: [SequenceBatch.Item] = []
            for i in start..<min(start + batchSize, images.count) {
                let values = try processor.preprocess(images[i], source: "image \(i)")
                let grid = PatchGrid(rows: values.grid.height, columns: values.grid.width)
                let tokens = model.vision.tokens(grid: grid)
                items.append(try prompts.imageItem(firstFeature: grids.reduce(0) { $0 + model.vision.tokens(grid: $1) }, tokens: tokens,
                                                   softPrompt: softPrompts).item)
                pixels += values.values
                grids.append(grid)
            }
            let sequences = SequenceBatch(items: items)
            let hidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: grids.count, grids: grids), sequences: sequences, pass: pass)
            }
            output += UnsafeBufferPointer(start: pooling.forward(hidden, sequences: sequences, width: width), count: grids.count * width)
            try requireFinite(output, from: start, what: "image")
            progress?(start + grids.count)
        }
        return output
    }
}
