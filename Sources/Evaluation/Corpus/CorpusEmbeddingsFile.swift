import Foundation
import HDF5Files

/// The file `discern embed --manifest/--data` writes (docs/export.md, "The embeddings file"):
/// /ids [items], /image_embeddings [items, width], /texts [texts], /text_items [texts] (the row
/// of /ids each caption belongs to: an item has none, one or several), /text_embeddings [texts, width], the provenance attributes
/// and `source`, `job`. Sealed (FileSeal) and written without object times, so the same input
/// and settings give the same bytes whatever the number of ranks.
enum CorpusEmbeddingsFile {
    /// Assembles the chunks' part files into `output`, one part in memory at a time, through a
    /// temporary file renamed at the end: readers see no file or the whole one.
    static func merge(parts: [String], into output: String, width: Int, provenance: EmbeddingProvenance,
                      source: String, job: String) throws {
        _ = removeStaleTemporaries(of: output)
        var items = 0, texts = 0
        for part in parts {
            let file = try H5File.open(part)
            defer { try? file.close() }
            items += try file.openDataset("/ids").shape[0]
            texts += try file.openDataset("/texts").shape[0]
        }
        try writeSealed(output) { file in
            let ids = try file.createDataset("/ids", elementType: .string, shape: [items])
            let images = try file.createDataset("/image_embeddings", elementType: .float32, shape: [items, width])
            let captions = try file.createDataset("/texts", elementType: .string, shape: [texts])
            let owners = try file.createDataset("/text_items", elementType: .int64, shape: [texts])
            let textEmbeddings = try file.createDataset("/text_embeddings", elementType: .float32, shape: [texts, width])
            var item = 0, text = 0
            for (index, part) in parts.enumerated() {
                let chunk = try CorpusParts.read(part, index: index)
                guard chunk.start == item else {
                    throw EmbeddingError("\(part) starts at item \(chunk.start), expected \(item): remove "
                                         + "\((part as NSString).deletingLastPathComponent) and rerun")
                }
                try ids.writeStringRows(chunk.ids, startingAt: item)
                try images.writeRows(chunk.imageEmbeddings, startingAt: item)
                try captions.writeStringRows(chunk.texts, startingAt: text)
                try owners.writeRows(chunk.textItems, startingAt: text)
                try textEmbeddings.writeRows(chunk.textEmbeddings, startingAt: text)
                (item, text) = (item + chunk.ids.count, text + chunk.texts.count)
            }
            try provenance.write(to: file)
            try file.setAttribute("source", .string(source))
            try file.setAttribute("job", .string(job))
        }
    }

    /// True when `output` is an intact file of this job: a rerun of a finished run does nothing.
    static func isFinished(_ output: String, job: String) -> Bool {
        guard FileManager.default.fileExists(atPath: output),
              case .sealed? = try? FileSeal.verify(output, remedy: "it is written again"),
              let file = try? H5File.open(output) else { return false }
        defer { try? file.close() }
        return (try? file.stringAttribute("job")) == job
    }
}
