import Checkpointing
import Configuration
import Foundation
import Images
import Kernels
import Layers
import ModelFiles
import Models
import Objectives
import PEFT
import Runs
import Training

/// Image and text embeddings from a model directory, optionally with trained adapters
/// (a checkpoint's LoRA tensors and soft prompts): docs/method.md sections 2-3.
package final class Embedder {
    package let model: VisionLanguageModel<Float>
    package let prompts: PromptBuilder
    /// How images become the vision encoder's input: one fixed size (LLaVA) or each its own (Qwen2-VL).
    package let imageInput: ImageInput
    package let softPrompts: Bool
    package let batchSize: Int
    package let modelPath: String
    let pass = VisionLanguageModel<Float>.Pass()
    let pooling = EmbeddingPooling<Float>()

    /// `checkpoint`: a training checkpoint whose stored configuration says which adapters exist.
    /// `halfWeights`: keep F16/BF16 base weights memory-mapped, widened per use (same embeddings).
    /// `compute`: bf16 runs the products with the base weights as bf16 GEMMs (ComputePrecision).
    package init(directory: ModelDirectory, checkpoint: String? = nil, adapters: String? = nil, templates: PromptTemplates = PromptTemplates(),
                imageMode: ImagePreprocessingConfig.Mode = .crop, batchSize: Int = 16, halfWeights: Bool = false,
                compute: ComputePrecision = .fp32) throws {
        let config = directory.config
        modelPath = directory.url.path
        var templates = templates, trainable = TrainableSet.frozen, imageMode = imageMode
        var state: CheckpointState?
        var imported: AdapterImport?
        if let adapters {
            let adapterImport = try AdapterImport(directory: adapters, keyLayout: config.modelDescription.keyLayout)
            trainable = adapterImport.trainable
            templates = adapterImport.templates ?? templates
            imported = adapterImport
        }
        if let checkpoint {
            let loaded = try CheckpointFile.read(checkpoint)
            try BaseFingerprint(config: config).check(loaded, path: checkpoint, model: directory.url.path)
            let stored = try RunConfiguration(checkpointYAML: loaded.configYAML, checkpoint: checkpoint)
            templates = PromptTemplates(stored.prompts)
            imageMode = stored.imageMode
            state = loaded
            let builder = try directory.promptBuilder(templates: templates)
            let settings = try RunSettings(stored, softPromptLengths: (builder.imageSuffixIDs.count, builder.textSuffixIDs.count), worldSize: 1)
            guard !settings.trainable.fullModel else {
                // Its tensors are a whole new base model, not adapters on this one.
                throw CheckpointError("\(checkpoint) trains the base model itself (train.mode full), so it holds no adapters to apply. "
                    + "Make it a model directory first: discern export --checkpoint \(checkpoint) --model \(directory.url.path) --output DIR --merge; "
                    + "then use --model DIR/merged without --checkpoint.")
            }
            trainable = settings.trainable
        }
        // No backward ever runs here, so recomputation costs nothing and keeps one layer's
        // activations instead of all of them.
        model = try directory.loadModel(trainable: trainable, memory: ModelMemoryOptions(halfWeights: halfWeights, recompute: true, compute: compute))
        prompts = try directory.promptBuilder(templates: templates)
        if let state { try TrainingState.restore(state, into: model, update: nil, source: checkpoint!) }
        try imported?.apply(to: model)
        softPrompts = trainable.imageSoftPromptLength != nil
        imageInput = try ImageInput(directory.family, mode: imageMode)
        self.batchSize = max(batchSize, 1)
    }

    /// The fixed-size preprocessor (CLIP's), for what still needs one image size (eval sets).
    package var preprocessor: ImagePreprocessor {
        get throws {
            guard case .fixed(let preprocessor, _) = imageInput else {
                throw EmbeddingError("\(modelPath) keeps every image at its own size; evaluation sets of fixed-size images are not supported for it yet")
            }
            return preprocessor
        }
    }

    /// The one image side of a fixed-size family, nil for dynamic resolution.
    package var imageSize: Int? {
        if case .fixed(_, let size) = imageInput { return size }
        return nil
    }

    package var width: Int { model.hidden }

    /// L2-normalised embeddings of images already decoded, (count, width) row-major.
    package func embedImages(_ images: [RGBImage], progress: ((Int) -> Void)? = nil) throws -> [Float] {
        guard case .fixed(let preprocessor, _) = imageInput else { return try embedOwnSizes(images, progress: progress) }
        var pixels = [Float](repeating: 0, count: images.count * preprocessor.outputCount)
        pixels.withUnsafeMutableBufferPointer { buffer in
            for (i, image) in images.enumerated() { preprocessor.preprocess(image, into: buffer.baseAddress! + i * preprocessor.outputCount) }
        }
        return try embedPixels(pixels, count: images.count, progress: progress)
    }

    /// Embeddings of preprocessed images: pixels (count, 3, size, size), normalised.
    package func embedPixels(_ pixels: [Float], count: Int, progress: ((Int) -> Void)? = nil) throws -> [Float] {
        let preprocessor = try preprocessor
        precondition(pixels.count == count * preprocessor.outputCount, "embedPixels: \(pixels.count) values for \(count) images")
        var output: [Float] = []
        output.reserveCapacity(count * width)
        for start in stride(from: 0, to: count, by: batchSize) {
            let n = min(batchSize, count - start)
            let sequences = SequenceBatch(items: try (0..<n).map { try prompts.imageItem(imageIndex: $0, softPrompt: softPrompts).item })
            let hidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress! + start * preprocessor.outputCount, count: n), sequences: sequences, pass: pass)
            }
            output += UnsafeBufferPointer(start: pooling.forward(hidden, sequences: sequences, width: width), count: n * width)
            try requireFinite(output, from: start, what: "image")
            progress?(start + n)
        }
        return output
    }

    /// L2-normalised embeddings of captions, (count, width) row-major.
    package func embedTexts(_ texts: [String], progress: ((Int) -> Void)? = nil) throws -> [Float] {
        var output: [Float] = []
        output.reserveCapacity(texts.count * width)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let batch = Array(texts[start..<min(start + batchSize, texts.count)])
            let sequences = SequenceBatch(items: try batch.map { try prompts.textItem(caption: $0, softPrompt: softPrompts) })
            let hidden = model.forward(images: nil, sequences: sequences, pass: pass)
            output += UnsafeBufferPointer(start: pooling.forward(hidden, sequences: sequences, width: width), count: batch.count * width)
            try requireFinite(output, from: start, what: "caption", texts: texts)
            progress?(start + batch.count)
        }
        return output
    }

    /// A NaN or infinite embedding would rank arbitrarily and be written to disk as if valid.
    func requireFinite(_ output: [Float], from item: Int, what: String, texts: [String]? = nil) throws {
        guard let index = output[(item * width)...].firstIndex(where: { !$0.isFinite }) else { return }
        let row = index / width
        let name = texts.map { "\(what) \(row) ('\($0[row].prefix(60))')" } ?? "\(what) \(row)"
        throw EmbeddingError("the embedding of \(name) is not finite: the model or its adapters produce NaN or infinity "
            + "(check the checkpoint, and config.json values such as rms_norm_eps / layer_norm_eps)")
    }
}

package struct EmbeddingError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
