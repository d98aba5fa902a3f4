import Evaluation
import Foundation

extension Embed {
    /// `--manifest` or `--data`: the job of `CorpusEmbedding`, with progress on rank 0.
    func embedCorpus() throws {
        let job = CorpusEmbedding(output: output, chunkSize: chunkSize, settings: settings)
        var progress: CountProgress?
        var report = CorpusEmbedding.Report()
        var upToDate = false
        report.upToDate = { items in
            upToDate = true
            print("\(output) is up to date (\(items) items, the same model, settings and input); nothing to embed")
        }
        report.planned = { items, remaining, chunks, reused in
            if reused > 0 { print("\(output): reusing \(reused) of \(chunks) finished chunks; \(remaining) of \(items) items to embed") }
            progress = CountProgress(total: remaining, label: "embedding")
        }
        report.progress = { progress?.update($0) }
        report.finished = { progress?.finish() }
        var width = 0
        let written = try job.launch(timeout: timeout, report: report) {
            let directory = try Embedder.openModel(model.model)
            // Before the weights load: a bad manifest is reported in seconds, not after a minute.
            let source: CorpusSource = try manifest.map { try ManifestCorpus(path: $0) }
                ?? SplitCorpus(directory: data!, split: split ?? "train")
            let embedder = try makeEmbedder(directory, compute: try model.computePrecision())
            width = embedder.width
            return (source, embedder, provenance(embedder))
        }
        guard let written, !upToDate else { return }
        print("wrote \(written) items (\(width) wide) to \(output)")
    }

    /// What changes the embeddings besides the input, for the ranks' agreement and the parts'
    /// reuse. The world size is not among them: it does not change the result.
    var settings: [(key: String, value: String)] {
        [("model", model.model), ("checkpoint", model.checkpoint ?? "none"), ("adapters", model.adapters ?? "none"),
         ("image_prompt", imagePrompt), ("text_prompt", textPrompt), ("image_mode", model.imageMode.rawValue),
         ("half_weights", "\(model.halfWeights)"), ("compute", model.compute.rawValue), ("batch_size", "\(batchSize)")]
    }
}
