import DataImport
import Evaluation
import Foundation

extension Embed {
    /// `--manifest`, `--data` or `--webdataset`: the job of `CorpusEmbedding`, with progress on rank 0.
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
        report.notes = { notes in for note in notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) } }
        var width = 0, skipped: [(id: String, reason: String)] = [], items = 0
        report.written = { (items, skipped) = ($0, $1) }
        let written = try job.launch(timeout: timeout, report: report) {
            let directory = try Embedder.openModel(model.model)
            // Before the weights load: a bad manifest is reported in seconds, not after a minute.
            let source = try openSource()
            let embedder = try makeEmbedder(directory, compute: try model.computePrecision())
            width = embedder.width
            return (source, embedder, provenance(embedder))
        }
        guard written != nil, !upToDate else { return }
        print("wrote \(items) items (\(width) wide) to \(output)")
        guard !skipped.isEmpty else { return }
        print("skipped \(skipped.count) sample\(skipped.count == 1 ? "" : "s") that could not be embedded (all of them are in \(output): "
              + "/skipped_ids, /skipped_reasons):")
        for entry in skipped.prefix(10) { print("  \(entry.reason)") }
        if skipped.count > 10 { print("  ... and \(skipped.count - 10) more") }
    }

    func openSource() throws -> CorpusSource {
        if let manifest { return try ManifestCorpus(path: manifest) }
        if let data { return try SplitCorpus(directory: data, split: split ?? "train") }
        return try WebDatasetCorpus(patterns: webdataset, fields: WebDatasetCaptionFields(short: captionField, long: longCaptionField),
                                    strict: strict)
    }

    /// What changes the embeddings besides the input, for the ranks' agreement and the parts'
    /// reuse. The world size is not among them: it does not change the result.
    var settings: [(key: String, value: String)] {
        [("model", model.model), ("checkpoint", model.checkpoint ?? "none"), ("adapters", model.adapters ?? "none"),
         ("image_prompt", imagePrompt), ("text_prompt", textPrompt), ("image_mode", model.imageMode.rawValue),
         ("half_weights", "\(model.halfWeights)"), ("compute", model.compute.rawValue), ("batch_size", "\(batchSize)")]
            + (webdataset.isEmpty ? [] : [("strict", "\(strict)")])
    }
}
