import Communication
import Foundation

/// `discern embed --manifest/--data`, alone or under mpirun (docs/export.md, "Embedding a
/// corpus"): the input is cut into chunks of `chunkSize` items; ranks embed the unfinished
/// chunks in turn, each into a sealed part file under OUTPUT.parts/; rank 0 then assembles the
/// one output file and removes the parts. A rerun keeps the parts that verify, so a killed run
/// continues where it stopped, on any number of ranks. The chunks and the batches inside them do
/// not depend on the rank count, so neither does the output file.
package struct CorpusEmbedding {
    /// What rank 0 reports, for the command's progress line.
    package struct Report {
        /// (items in the input, items still to embed, chunks in all, chunks reused).
        package var planned: (Int, Int, Int, Int) -> Void = { _, _, _, _ in }
        /// The output is already that of this job (this many items): nothing is done.
        package var upToDate: (Int) -> Void = { _ in }
        /// Items embedded so far by all ranks (an estimate between rounds).
        package var progress: (Int) -> Void = { _ in }
        package var finished: () -> Void = {}
        /// Notes on the input (damaged shards), once it is known.
        package var notes: ([String]) -> Void = { _ in }
        /// The items written and the skipped ones (id, reason), after the merge.
        package var written: (Int, [(id: String, reason: String)]) -> Void = { _, _ in }
        package init() {}
    }

    package let output: String
    package let chunkSize: Int
    /// Every setting that changes the embeddings, as "key: value" lines: ranks must agree on it,
    /// and parts of another job are not reused.
    package let settings: [(key: String, value: String)]

    package init(output: String, chunkSize: Int, settings: [(key: String, value: String)]) {
        precondition(chunkSize > 0, "CorpusEmbedding: chunk size \(chunkSize)")
        (self.output, self.chunkSize, self.settings) = (output, chunkSize, settings)
    }

    var parts: String { CorpusParts.folder(of: output) }

    /// The job text of `source`: the settings, the chunk size and what the input is. Newlines
    /// inside values are escaped so that each setting stays one line.
    func job(_ source: CorpusSource) -> String {
        (settings + [("chunk_size", "\(chunkSize)"), ("source", source.identity)])
            .map { "\($0.key): \($0.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))" }
            .joined(separator: "\n")
    }

    /// The whole job on this process, from MPI start to finalize: `run` on the communicator of
    /// the launch (MPI under mpirun or srun, else one process), with the watchdog of `train`
    /// (`timeout` seconds in one collective, 0 = wait forever). Returns the number of items
    /// written on rank 0, nil on the other ranks.
    package func launch(timeout: Double, report: Report, open: () throws -> (CorpusSource, Embedder, EmbeddingProvenance)) throws -> Int? {
        let communicator = try makeCommunicator()
        return runOrAbort(on: communicator) {
            Watchdog.start(for: communicator, timeout: timeout, resume: "rerun the same discern embed command to continue", setting: "--timeout")
            let count = try run(on: communicator, report: report, open: open)
            try communicator.finalize()
            return communicator.rank == 0 ? count : nil
        }
    }

    /// True when this process is a rank started by an MPI launcher.
    package static var underMPI: Bool { launchedByMPI() }

    /// Runs the whole job on this rank. `open` reads the input and loads the model (on every rank;
    /// an error on any rank stops all of them cleanly, with that rank's message). Returns the
    /// number of items in the input.
    package func run(on communicator: Communicator, report: Report,
                     open: () throws -> (CorpusSource, Embedder, EmbeddingProvenance)) throws -> Int {
        let (source, embedder, provenance) = try together(communicator) { () -> (CorpusSource, Embedder, EmbeddingProvenance) in
            try requireOutputFolder()
            return try open()
        }
        try RankAgreement.check([AgreementItem(name: "embed settings", text: job(source), hint: "start every rank with the same "
            + "discern embed command and the same input files", detailed: true)], on: communicator)
        // The ranks agree on the input, so their surveys have one length and can be summed.
        var survey = try together(communicator) { try source.survey(rank: communicator.rank, ranks: communicator.size) }
        try communicator.allReduceSum(&survey)
        try together(communicator) { try source.complete(survey: survey) }
        if communicator.rank == 0, !source.notes.isEmpty { report.notes(source.notes) }
        let job = job(source)
        let chunks = (source.count + chunkSize - 1) / chunkSize
        let upToDate = communicator.rank == 0 && CorpusEmbeddingsFile.isFinished(output, job: job)
        if try communicator.allReduceMax(upToDate ? 1.0 : 0) > 0 {
            if communicator.rank == 0 { report.upToDate(source.count) }
            return source.count
        }
        let pending = try together(communicator) { try plan(source, chunks: chunks, width: embedder.width, job: job, on: communicator) }
        let remaining = pending.reduce(0) { $0 + range(of: $1, in: source).count }
        if communicator.rank == 0 { report.planned(source.count, remaining, chunks, chunks - pending.count) }
        var done = 0
        for round in stride(from: 0, to: pending.count, by: communicator.size) {
            let mine = round + communicator.rank
            let embedded = try together(communicator) { () -> Double in
                guard mine < pending.count else { return 0 }
                let chunk = try embedChunk(pending[mine], of: source, embedder: embedder) { items in
                    if communicator.rank == 0 { report.progress(min(remaining, done + items * communicator.size)) }
                }
                try CorpusParts.write(chunk, width: embedder.width, job: job, to: CorpusParts.path(in: parts, chunk: chunk.index))
                return Double(chunk.itemCount)
            }
            done += Int(try communicator.allReduceSum(embedded))
            if communicator.rank == 0 { report.progress(done) }
        }
        try together(communicator) {
            guard communicator.rank == 0 else { return }
            let merged = try CorpusEmbeddingsFile.merge(parts: (0..<chunks).map { CorpusParts.path(in: parts, chunk: $0) }, into: output,
                                                        width: embedder.width, provenance: provenance, source: source.identity, job: job)
            try? FileManager.default.removeItem(atPath: parts)
            report.finished()
            report.written(merged.items, merged.skipped)
        }
        return source.count
    }

    /// The output's folder must exist (as for every other output): a typo in it must not create
    /// a tree of folders for the parts.
    func requireOutputFolder() throws {
        let folder = (output as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard folder.isEmpty || (FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue) else {
            throw EmbeddingError("\(output): the folder '\(folder)' does not exist; create it first (on a cluster: on the file system "
                                 + "that every rank shares)")
        }
    }

    /// The chunks still to embed, the same list on every rank: each rank checks every size-th
    /// part (reading a part in full to verify its seal is the slow step on a large corpus).
    func plan(_ source: CorpusSource, chunks: Int, width: Int, job: String, on communicator: Communicator) throws -> [Int] {
        try FileManager.default.createDirectory(atPath: parts, withIntermediateDirectories: true)   // its folder exists: only .parts is created
        if communicator.rank == 0 { CorpusParts.removeTemporaries(in: parts) }
        var finished = [Int32](repeating: 0, count: chunks)
        for chunk in stride(from: communicator.rank, to: chunks, by: communicator.size) {
            let path = CorpusParts.path(in: parts, chunk: chunk)
            if CorpusParts.isFinished(path, job: job, index: chunk, count: range(of: chunk, in: source).count, width: width) { finished[chunk] = 1 }
        }
        try communicator.allReduceSum(&finished)
        return finished.indices.filter { finished[$0] == 0 }
    }

    func range(of chunk: Int, in source: CorpusSource) -> Range<Int> {
        (chunk * chunkSize)..<min((chunk + 1) * chunkSize, source.count)
    }

    /// One chunk, read and embedded one batch of items at a time, so memory holds one batch of
    /// decoded images, not a chunk's.
    func embedChunk(_ index: Int, of source: CorpusSource, embedder: Embedder, progress: (Int) -> Void) throws -> CorpusChunk {
        let items = range(of: index, in: source)
        var chunk = CorpusChunk(index: index, start: items.lowerBound)
        for start in stride(from: items.lowerBound, to: items.upperBound, by: embedder.batchSize) {
            var batch: [(index: Int64, item: CorpusItem)] = []
            for (offset, entry) in try source.items(start..<min(start + embedder.batchSize, items.upperBound)).enumerated() {
                switch entry {
                case .item(let item): batch.append((Int64(start + offset), item))
                case .skipped(let id, let reason):
                    chunk.skippedItems.append(Int64(start + offset))
                    chunk.skippedIds.append(id)
                    chunk.skippedReasons.append(reason)
                }
            }
            chunk.ids += batch.map(\.item.id)
            chunk.imageEmbeddings += try embedder.embedImages(batch.map(\.item.image))
            let texts = batch.flatMap { entry in entry.item.captions.map { (item: entry.index, text: $0) } }
            chunk.texts += texts.map(\.text)
            chunk.textItems += texts.map(\.item)
            chunk.textEmbeddings += try embedder.embedTexts(texts.map(\.text))
            progress(min(start + embedder.batchSize, items.upperBound) - items.lowerBound)
        }
        return chunk
    }
}

/// A step that every rank runs at the same point and that fails on some ranks only: when it
/// throws anywhere, every rank throws the lowest failing rank's message (one collective to find
/// it, one to share it), so no rank is left waiting and the job ends cleanly.
func together<T>(_ communicator: Communicator, _ body: () throws -> T) throws -> T {
    var result: T?, message = ""
    do { result = try body() } catch { message = "\(error)" }
    let lowestFailing = try communicator.allReduceMax(result == nil ? Double(communicator.size - communicator.rank) : 0)
    if let result, lowestFailing == 0 { return result }
    let root = communicator.size - Int(lowestFailing)
    let text = try communicator.broadcast(communicator.rank == root ? message : "", root: root)
    throw CorpusEmbeddingFailed(description: communicator.size > 1 ? "rank \(root): \(text)" : text)
}

/// An error of one rank, thrown by all of them (`runOrAbort` prints it once and finalizes).
package struct CorpusEmbeddingFailed: JobWideError, CustomStringConvertible {
    package let description: String
}
