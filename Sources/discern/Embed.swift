import ArgumentParser
import Evaluation
import Foundation

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed images and/or texts into one L2-normalised space and write them to HDF5.",
        discussion: """
        Writes /image_embeddings [n_images, hidden] and /text_embeddings [n_texts, hidden] (float32), plus
        /image_files and /texts, with attributes naming the model, the adapters and the prompts.
        Example: discern embed --model checkpoints/tiny-base --images a.png b.jpg --texts captions.txt --output emb.h5
        """)

    @OptionGroup var model: ModelOptions
    @Option(parsing: .upToNextOption, help: "Image files (JPEG or PNG).", transform: expandedPath) var images: [String] = []
    @Option(help: "A text file with one caption per line (blank lines are skipped).", transform: expandedPath) var texts: String?
    @Option(help: "Output HDF5 file.", transform: expandedPath) var output: String
    @Option(help: "Image prompt template (ignored with --checkpoint, which stores its own).") var imagePrompt = Embedder.defaultImagePrompt
    @Option(help: "Text prompt template (ignored with --checkpoint).") var textPrompt = Embedder.defaultTextPrompt
    @Option(help: "Images or texts per forward pass.") var batchSize = 16

    func validate() throws {
        guard !images.isEmpty || texts != nil else { throw ValidationError("give --images, --texts or both.") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive.") }
    }

    func run() throws {
        let directory = try Embedder.openModel(model.model)
        // Before the weights load: a bad caption file is reported in a second, not after a minute.
        let lines: [String]
        do { lines = try texts.map(readCaptionLines) ?? [] } catch let error as CaptionFileError { throw ValidationError(error.description) }
        let embedder = try Embedder(directory: directory, checkpoint: model.checkpoint, adapters: model.adapters,
                                    imagePrompt: imagePrompt, textPrompt: textPrompt,
                                    imageMode: model.imageMode, batchSize: batchSize, halfWeights: model.halfWeights,
                                    compute: try model.computePrecision())
        let decoded = try Embedder.loadImages(images)
        let progress = CountProgress(total: decoded.count + lines.count, label: "embedding")
        let imageEmbeddings = try embedder.embedImages(decoded) { progress.update($0) }
        let textEmbeddings = try embedder.embedTexts(lines) { progress.update(decoded.count + $0) }
        progress.finish()

        try EmbeddingsFile(imageEmbeddings: imageEmbeddings, textEmbeddings: textEmbeddings, width: embedder.width,
                           imageFiles: images, texts: lines, model: embedder.modelPath, adapters: model.checkpoint ?? model.adapters,
                           imagePrompt: embedder.prompts.templates.image, textPrompt: embedder.prompts.templates.text,
                           imageMode: model.imageMode.rawValue).write(to: output)
        print("wrote \(decoded.count) image and \(lines.count) text embeddings (\(embedder.width) wide) to \(output)")
    }
}
