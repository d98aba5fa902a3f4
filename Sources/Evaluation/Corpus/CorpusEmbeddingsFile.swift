import Foundation
import HDF5Files

/// The file `discern embed --manifest/--data` writes (docs/export.md, "The embeddings file"):
/// /ids [items], /image_embeddings [items, width], /texts [texts], /text_items [texts] (the row
/// of /ids each caption belongs to: an item has none, one or several), /text_embeddings [texts, width], the provenance attributes
/// and `source`, `job`. Sealed (FileSeal) and written without object times, so the same input
/// and settings give the same bytes whatever the number of ranks.
enum CorpusEmbeddingsFile {
    /// Assembles the chunks' part files into `output`, one part in memory at a time, through a
    /// temporary file renamed at the end: readers see no file or the whole one. Returns the items
    /// written and the skipped ones (id, reason), in input order.
    static func merge(parts: [String], into output: String, width: Int, provenance: EmbeddingProvenance,
                      source: String, job: String) throws -> (items: Int, skipped: [(id: String, reason: String)]) {
        _ = removeStaleTemporaries(of: output)
        var items = 0, texts = 0
        for part in parts {
            let file = try H5File.open(part)
            defer { try? file.close() }
            items += try file.openDataset("/ids").shape[0]
            texts += try file.openDataset("/texts").shape[0]
        }
        var skipped: [(id: String, reason: String)] = []
        try writeSealed(output) { file in
            let ids = try file.createDataset("/ids", elementType: .string, shape: [items])
            let images = try file.createDataset("/image_embeddings", elementType: .float32, shape: [items, width])
            let captions = try file.createDataset("/texts", elementType: .string, shape: [texts])
            let owners = try file.createDataset("/text_items", elementType: .int64, shape: [texts])
            let textEmbeddings = try file.createDataset("/text_embeddings", elementType: .float32, shape: [texts, width])
            var input = 0, row = 0, text = 0
            for (index, part) in parts.enumerated() {
                let chunk = try CorpusParts.read(part, index: index)
                guard chunk.start == input else {
                    throw EmbeddingError("\(part) starts at item \(chunk.start), expected \(input): remove "
                                         + "\((part as NSString).deletingLastPathComponent) and rerun")
                }
                try ids.writeStringRows(chunk.ids, startingAt: row)
                try images.writeRows(chunk.imageEmbeddings, startingAt: row)
                try captions.writeStringRows(chunk.texts, startingAt: text)
                try owners.writeRows(try outputRows(of: chunk, from: row, part: part), startingAt: text)
                try textEmbeddings.writeRows(chunk.textEmbeddings, startingAt: text)
                skipped += zip(chunk.skippedIds, chunk.skippedReasons).map { ($0, $1) }
                (input, row, text) = (input + chunk.itemCount, row + chunk.ids.count, text + chunk.texts.count)
            }
            try file.write(skipped.map(\.id), shape: [skipped.count], to: "/skipped_ids")
            try file.write(skipped.map(\.reason), shape: [skipped.count], to: "/skipped_reasons")
            try provenance.write(to: file)
            try file.setAttribute("source", .string(source))
            try file.setAttribute("job", .string(job))
        }
        return (items, skipped)
    }

    /// The row of /ids that each of `chunk`'s captions belongs to, the chunk's first embedded
    /// item being row `first`: its input index less the skipped items before it.
    private static func outputRows(of chunk: CorpusChunk, from first: Int, part: String) throws -> [Int64] {
        var rows = [Int64](repeating: -1, count: chunk.itemCount)
        let skipped = Set(chunk.skippedItems)
        var next = Int64(first)
        for local in rows.indices where !skipped.contains(Int64(chunk.start + local)) {
            rows[local] = next
            next += 1
        }
        return try chunk.textItems.map { item in
            let local = Int(item) - chunk.start
            guard rows.indices.contains(local), rows[local] >= 0 else {
                throw EmbeddingError("\(part): a caption of item \(item), which is not an embedded item of the chunk: remove "
                                     + "\((part as NSString).deletingLastPathComponent) and rerun")
            }
            return rows[local]
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
