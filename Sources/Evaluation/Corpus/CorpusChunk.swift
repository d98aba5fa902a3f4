import Foundation
import HDF5Files

/// The embeddings of one chunk of corpus items (`chunkSize` consecutive items; the last chunk
/// may be shorter). Chunks are numbered from the start of the input whatever the world size,
/// so a rerun on another rank count finds the same chunks.
struct CorpusChunk {
    let index: Int
    /// The input index of the chunk's first item.
    let start: Int
    var ids: [String] = []
    /// (ids.count, width), row-major, L2-normalised.
    var imageEmbeddings: [Float] = []
    var texts: [String] = []
    /// For each text, the input index of its item (an item has none, one or several captions).
    var textItems: [Int64] = []
    /// (texts.count, width).
    var textEmbeddings: [Float] = []
    /// Items that were read but not embedded (webdataset samples without a usable image): their
    /// input indices, ids and reasons. The chunk's items are `ids` and these together.
    var skippedItems: [Int64] = []
    var skippedIds: [String] = []
    var skippedReasons: [String] = []

    var itemCount: Int { ids.count + skippedIds.count }

    init(index: Int, start: Int) { (self.index, self.start) = (index, start) }
}

/// The part files of an unfinished `discern embed` run: OUTPUT.parts/chunk-NNNNNN.h5, each
/// written to a temporary file, sealed with a CRC-32 (FileSeal) and renamed, so a part that
/// exists and verifies is complete. A part records the run's settings (`job`): one written with
/// other settings or input is stale and done again.
enum CorpusParts {
    static func folder(of output: String) -> String { output + ".parts" }

    static func path(in folder: String, chunk: Int) -> String {
        (folder as NSString).appendingPathComponent(String(format: "chunk-%06d.h5", chunk))
    }

    static func write(_ chunk: CorpusChunk, width: Int, job: String, to path: String) throws {
        try writeSealed(path) { file in
            try file.write(chunk.ids, shape: [chunk.ids.count], to: "/ids")
            try file.write(chunk.imageEmbeddings, shape: [chunk.ids.count, width], to: "/image_embeddings")
            try file.write(chunk.texts, shape: [chunk.texts.count], to: "/texts")
            try file.write(chunk.textItems, shape: [chunk.texts.count], to: "/text_items")
            try file.write(chunk.textEmbeddings, shape: [chunk.texts.count, width], to: "/text_embeddings")
            try file.write(chunk.skippedItems, shape: [chunk.skippedItems.count], to: "/skipped_items")
            try file.write(chunk.skippedIds, shape: [chunk.skippedIds.count], to: "/skipped_ids")
            try file.write(chunk.skippedReasons, shape: [chunk.skippedReasons.count], to: "/skipped_reasons")
            try file.setAttribute("job", .string(job))
            try file.setAttribute("chunk", .int64(Int64(chunk.index)))
            try file.setAttribute("start", .int64(Int64(chunk.start)))
        }
    }

    /// True when `path` is an intact part of this job holding chunk `index` with `count` items.
    /// Anything else there (damaged, truncated, another job's) is removed, so the chunk is
    /// embedded again.
    static func isFinished(_ path: String, job: String, index: Int, count: Int, width: Int) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        if (try? matches(path, job: job, index: index, count: count, width: width)) == true { return true }
        try? FileManager.default.removeItem(atPath: path)
        return false
    }

    private static func matches(_ path: String, job: String, index: Int, count: Int, width: Int) throws -> Bool {
        guard case .sealed = try FileSeal.verify(path, remedy: "it is embedded again") else { return false }
        let file = try H5File.open(path)
        defer { try? file.close() }
        let embedded = try file.openDataset("/image_embeddings").shape
        return try file.stringAttribute("job") == job && file.int64Attribute("chunk") == Int64(index)
            && embedded.count == 2 && embedded[1] == width && embedded[0] + file.openDataset("/skipped_ids").shape[0] == count
    }

    /// Reads a part back (rank 0, merging), its seal checked first.
    static func read(_ path: String, index: Int) throws -> CorpusChunk {
        _ = try FileSeal.verify(path, remedy: "rerun the same discern embed command to embed its chunk again")
        let file = try H5File.open(path)
        defer { try? file.close() }
        var chunk = CorpusChunk(index: index, start: Int(try file.int64Attribute("start")))
        chunk.ids = try file.readStrings("/ids").values
        chunk.imageEmbeddings = try file.read("/image_embeddings", as: Float.self).values
        chunk.texts = try file.readStrings("/texts").values
        chunk.textItems = try file.read("/text_items", as: Int64.self).values
        chunk.textEmbeddings = try file.read("/text_embeddings", as: Float.self).values
        chunk.skippedItems = try file.read("/skipped_items", as: Int64.self).values
        chunk.skippedIds = try file.readStrings("/skipped_ids").values
        chunk.skippedReasons = try file.readStrings("/skipped_reasons").values
        return chunk
    }

    /// `chunk-N.h5.tmp-PID` files of killed writers. Called by rank 0 before any rank writes
    /// (while ranks check their parts), so no temporary there is live; the PID alone could not
    /// tell, since a writer may have run on another host.
    static func removeTemporaries(in folder: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] where name.contains(".h5.tmp-") {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
    }
}

/// Writes `path` whole or not at all: a temporary file without object times (the same content
/// gives the same bytes), sealed with its CRC-32 (FileSeal) and renamed durably.
func writeSealed(_ path: String, _ body: (H5File) throws -> Void) throws {
    let temporary = path + ".tmp-\(getpid())"
    do {
        let file = try H5File.create(temporary, tracksObjectTimes: false, userBlock: true)
        try body(file)
        try file.close()
        try FileSeal.seal(temporary)
        try durableRename(from: temporary, to: path)
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        throw error
    }
}
