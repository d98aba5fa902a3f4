import ArgumentParser
import Evaluation
import Foundation
import Layers
import ModelFiles

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed images and/or texts into one L2-normalised space and write them to HDF5, alone or under mpirun.",
        discussion: """
        Files: --images and/or --texts, in one process. Writes /image_embeddings [n_images, hidden] and \
        /text_embeddings [n_texts, hidden] (float32), plus /image_files and /texts.

        A corpus: --manifest FILE (JSONL, docs/data.md), --data DIR --split NAME, or --webdataset 'shards/{00000..00009}.tar' \
        (read in place, as discern prepare --webdataset groups them), alone or under mpirun: each rank \
        embeds its share, chunk by chunk, and one file results (/ids, /image_embeddings, /texts, /text_items, \
        /text_embeddings, /skipped_ids), the same for any number of ranks; a rerun reuses the finished chunks (OUTPUT.parts/).

        Both carry attributes naming the model, the adapters and the prompts (docs/export.md).

        Examples:
          discern embed --model checkpoints/tiny-base --images a.png b.jpg --texts captions.txt --output emb.h5
          mpirun -np 4 discern embed --model checkpoints/tiny-base --manifest corpus.jsonl --output corpus.h5
          mpirun -np 4 discern embed --model checkpoints/tiny-base --webdataset 'laion/{00000..00127}.tar' --output laion.h5
        """)

    @OptionGroup var model: ModelOptions
    @Option(parsing: .upToNextOption, help: "Image files (JPEG or PNG).", transform: expandedPath) var images: [String] = []
    @Option(help: "A text file with one caption per line (blank lines are skipped).", transform: expandedPath) var texts: String?
    @Option(help: "A JSONL manifest to embed (docs/data.md): each line's image and captions (its short ones, else its long one; none: the image alone).",
            transform: expandedPath) var manifest: String?
    @Option(help: "A Discern data set directory to embed (discern prepare or synth); with --split.", transform: expandedPath) var data: String?
    @Option(help: "The split of --data to embed (default train).") var split: String?
    @Option(help: "Webdataset tar shards to embed in place: a path or a brace pattern like 'shards/{00000..00127}.tar' (quote it); repeatable.",
            transform: expandedPath) var webdataset: [String] = []
    @Option(help: "Webdataset: the field of each sample's .json holding its short caption(s); without it, or when a .json lacks it, the .txt member.")
    var captionField: String?
    @Option(help: "Webdataset: the field of each sample's .json holding its long caption (embedded when a sample has no short one).")
    var longCaptionField: String?
    @Flag(help: "Webdataset: stop at the first sample that cannot be embedded or a damaged shard, instead of skipping it (skipped ones are listed in /skipped_ids).")
    var strict = false
    @Option(help: "Output HDF5 file.", transform: expandedPath) var output: String
    @Option(help: "Image prompt template (ignored with --checkpoint, which stores its own).") var imagePrompt = Embedder.defaultImagePrompt
    @Option(help: "Text prompt template (ignored with --checkpoint).") var textPrompt = Embedder.defaultTextPrompt
    @Option(help: "Images or texts per forward pass.") var batchSize = 16
    @Option(help: "Items per chunk of a corpus: the unit that ranks share and a rerun reuses.") var chunkSize = 1024
    @Option(help: "Seconds a rank may wait for the others (a chunk, the final merge) before it concludes that one is lost; 0 = forever.")
    var timeout = 600.0

    var corpus: Bool { manifest != nil || data != nil || !webdataset.isEmpty }

    func validate() throws {
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive.") }
        guard chunkSize > 0 else { throw ValidationError("--chunk-size must be positive.") }
        guard timeout == 0 || (1...1e7).contains(timeout) else { throw ValidationError("--timeout must be 0 (wait forever) or 1 to 1e7 seconds.") }
        guard [manifest != nil, data != nil, !webdataset.isEmpty].filter({ $0 }).count <= 1 else {
            throw ValidationError("give one corpus: --manifest, --data or --webdataset.")
        }
        guard !webdataset.isEmpty || (captionField == nil && longCaptionField == nil && !strict) else {
            throw ValidationError("--caption-field, --long-caption-field and --strict apply to --webdataset shards; give --webdataset or leave them out.")
        }
        guard split == nil || data != nil else { throw ValidationError("--split chooses a split of --data; give --data DIR or leave --split out.") }
        if corpus {
            guard images.isEmpty, texts == nil else {
                throw ValidationError("--images/--texts embed files; --manifest, --data and --webdataset a corpus: give one kind.")
            }
        } else {
            guard !images.isEmpty || texts != nil else {
                throw ValidationError("give --images, --texts or both, or a corpus: --manifest, --data or --webdataset.")
            }
            guard !CorpusEmbedding.underMPI else {
                throw ValidationError("--images/--texts run in one process; under mpirun give a corpus (--manifest FILE, --data DIR --split NAME or --webdataset SHARDS).")
            }
        }
    }

    func run() throws {
        if corpus { return try embedCorpus() }
        let directory = try Embedder.openModel(model.model)
        // Before the weights load: a bad caption file is reported in a second, not after a minute.
        let lines: [String]
        do { lines = try texts.map(readCaptionLines) ?? [] } catch let error as CaptionFileError { throw ValidationError(error.description) }
        let embedder = try makeEmbedder(directory, compute: try model.computePrecision())
        let decoded = try Embedder.loadImages(images)
        let progress = CountProgress(total: decoded.count + lines.count, label: "embedding")
        let imageEmbeddings = try embedder.embedImages(decoded) { progress.update($0) }
        let textEmbeddings = try embedder.embedTexts(lines) { progress.update(decoded.count + $0) }
        progress.finish()
        let provenance = self.provenance(embedder)
        try EmbeddingsFile(imageEmbeddings: imageEmbeddings, textEmbeddings: textEmbeddings, width: embedder.width,
                           imageFiles: images, texts: lines, model: provenance.model, adapters: provenance.adapters,
                           imagePrompt: provenance.imagePrompt, textPrompt: provenance.textPrompt,
                           imageMode: provenance.imageMode).write(to: output)
        print("wrote \(decoded.count) image and \(lines.count) text embeddings (\(embedder.width) wide) to \(output)")
    }

    func makeEmbedder(_ directory: ModelDirectory, compute: ComputePrecision) throws -> Embedder {
        try Embedder(directory: directory, checkpoint: model.checkpoint, adapters: model.adapters,
                     imagePrompt: imagePrompt, textPrompt: textPrompt, imageMode: model.imageMode, batchSize: batchSize,
                     halfWeights: model.halfWeights, compute: compute)
    }

    func provenance(_ embedder: Embedder) -> EmbeddingProvenance {
        EmbeddingProvenance(model: embedder.modelPath, adapters: model.checkpoint ?? model.adapters, imagePrompt: embedder.prompts.templates.image,
                            textPrompt: embedder.prompts.templates.text, imageMode: model.imageMode.rawValue)
    }
}
