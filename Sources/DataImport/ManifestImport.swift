import Foundation
import Datasets
import Images

/// Settings of `importManifest` (the `discern prepare` options).
package struct ManifestImportOptions: Sendable {
    /// (S, S, 3) after resizing and cropping or padding, or each image at its smart-resized size.
    package var sizing: ImportSizing
    package var samplesPerShard: Int
    package var split: String
    /// Stop at the first bad line (and leave no trace of the split) instead of skipping it.
    package var strict: Bool
    /// Images decoded at once; the order of the output does not depend on it.
    package var threads: Int
    package var createdBy: String
    /// Deflate level of the image chunks, nil for none (see docs/data.md for the trade-off).
    package var deflateLevel: Int?

    package init(sizing: ImportSizing, samplesPerShard: Int = ShardSchema.defaultSamplesPerShard, split: String = "train",
                strict: Bool = false, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                createdBy: String = "discern prepare", deflateLevel: Int? = 1) {
        self.sizing = sizing
        self.samplesPerShard = samplesPerShard
        self.split = split
        self.strict = strict
        self.threads = threads
        self.createdBy = createdBy
        self.deflateLevel = deflateLevel
    }

    /// Fixed-size images: (imageSize, imageSize, 3).
    package init(imageSize: Int, imageMode: ImagePreprocessingConfig.Mode = .crop,
                samplesPerShard: Int = ShardSchema.defaultSamplesPerShard, split: String = "train",
                strict: Bool = false, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                createdBy: String = "discern prepare", deflateLevel: Int? = 1) {
        self.init(sizing: .fixed(size: imageSize, mode: imageMode), samplesPerShard: samplesPerShard, split: split,
                  strict: strict, threads: threads, createdBy: createdBy, deflateLevel: deflateLevel)
    }

    /// Samples per shard file unless the user says otherwise.
    package static let defaultSamplesPerShard = ShardSchema.defaultSamplesPerShard
}

/// How far an import is: the manifest bytes consumed give the fraction done.
package struct ImportProgress: Sendable {
    package var bytesRead: Int
    package var totalBytes: Int
    package var imported: Int
    package var skipped: Int
    /// Bytes and items (imported + skipped) of the shards an earlier run finished (a restarted
    /// webdataset import): counted as done, but not in this run's rate.
    package var restoredBytes = 0
    package var restoredItems = 0
    package var fraction: Double { totalBytes > 0 ? min(1, Double(bytesRead) / Double(totalBytes)) : 1 }
    package var restoredFraction: Double { totalBytes > 0 ? min(1, Double(restoredBytes) / Double(totalBytes)) : 0 }
}

/// What an import did: the split written and every skipped line.
package struct ImportSummary: Sendable {
    package var imported = 0
    package var issues: [ImportIssue] = []
    package var split: SplitDescription?
    package var skipped: Int { issues.count }

    package func count(_ kind: ImportIssueKind) -> Int { issues.lazy.filter { $0.kind == kind }.count }
}

/// Imports a JSONL manifest (docs/data.md) into `output` as split `options.split`. Bad lines
/// (not JSON, wrong field types, no caption, missing or undecodable image) are reported through
/// `onIssue` with their line number and skipped; with `options.strict` the first one throws and
/// the split's files are removed, as they are when no line at all could be imported. The split
/// appears in dataset.json only when complete.
package func importManifest(_ manifest: String, into output: String, options: ManifestImportOptions,
                           onIssue: (ImportIssue) -> Void = { _ in },
                           onProgress: (ImportProgress) -> Void = { _ in }) throws -> ImportSummary {
    let resizer = try ImportResizer(options.sizing, manifest: manifest)
    var reader = try LineReader(path: manifest)
    defer { reader.close() }
    let writer = try ShardWriter(directory: output, split: options.split, layout: options.sizing.layout,
                                 samplesPerShard: options.samplesPerShard, createdBy: options.createdBy,
                                 deflateLevel: options.deflateLevel)
    let base = (manifest as NSString).deletingLastPathComponent
    var summary = ImportSummary()
    let chunkSize = max(1, options.threads) * 8
    do {
        var finished = false
        while !finished {
            // Parse a chunk of lines, decode its images in parallel, then keep line order.
            var parsed: [Result<ManifestEntry, ImportIssue>] = []
            while parsed.count < chunkSize {
                guard let line = try reader.next() else { finished = true; break }
                if let result = ManifestEntry.parse(line, line: reader.lineNumber, baseDirectory: base) {
                    parsed.append(result)
                }
            }
            let outcomes = loadImages(parsed, resizer, threads: options.threads)
            for outcome in outcomes {
                switch outcome {
                case .success(let sample):
                    try writer.append(sample)
                    summary.imported += 1
                case .failure(let issue):
                    if options.strict {
                        throw DatasetError(file: manifest, "\(issue) (--strict stops at the first bad line; "
                                           + "nothing was written)")
                    }
                    summary.issues.append(issue)
                    onIssue(issue)
                }
            }
            onProgress(ImportProgress(bytesRead: reader.bytesRead, totalBytes: reader.totalBytes,
                                      imported: summary.imported, skipped: summary.skipped))
        }
        guard summary.imported > 0 else {
            let first = summary.issues.first.map { "; the first problem: \($0)" } ?? ""
            throw DatasetError(file: manifest, "no sample could be imported (\(summary.skipped) lines skipped)\(first)")
        }
        summary.split = try writer.finish()
    } catch {
        writer.abort()
        throw error
    }
    return summary
}

/// Decodes and preprocesses the images of the parsed lines, `threads` at a time, in line order.
private func loadImages(_ parsed: [Result<ManifestEntry, ImportIssue>], _ resizer: ImportResizer,
                        threads: Int) -> [Result<Sample, ImportIssue>] {
    parallelMap(parsed, threads: threads) { $0.flatMap { load($0, resizer) } }
}

private func load(_ entry: ManifestEntry, _ resizer: ImportResizer) -> Result<Sample, ImportIssue> {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: entry.imagePath, isDirectory: &isDirectory),
          !isDirectory.boolValue else {
        return .failure(ImportIssue(line: entry.line, kind: .missingImage,
                                    reason: "image '\(entry.imagePath)' does not exist (paths are relative to the "
                                    + "manifest's folder)"))
    }
    let decoded: RGBImage
    do { decoded = try loadImage(path: entry.imagePath) } catch {
        return .failure(ImportIssue(line: entry.line, kind: .corruptImage, reason: "\(error)"))
    }
    do {
        let image = try resizer.stored(decoded, source: entry.imagePath)
        return .success(Sample(id: entry.id, image: image, shortCaptions: entry.shorts, long: entry.long,
                              negatives: entry.negatives))
    } catch {
        return .failure(ImportIssue(line: entry.line, kind: .refusedImage, reason: "\(error)"))
    }
}
