import ArgumentParser
import Configuration
import DataImport
import Foundation

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a JSONL manifest of images and captions into an HDF5 data set (docs/data.md).",
        discussion: """
            Each manifest line is {"image": "a.jpg", "short": "...", "long": "...", "negatives": {"type": "..."}} \
            or the evaluation form {"image": "a.jpg", "caption": "...", "negatives": {...}}; image paths are \
            relative to the manifest's folder. Bad lines are reported with their line number and skipped \
            (--strict: the first one stops the import). The split appears in DIR/dataset.json only once complete.
            """)

    @Option(help: "The JSONL manifest to import.", transform: expandedPath)
    var manifest: String

    @Option(help: "The data set directory (created if missing; other splits in it are kept).", transform: expandedPath)
    var output: String

    @Option(help: "The split to write: train, eval, ...")
    var split = "train"

    @Option(help: "Samples per shard file.")
    var samplesPerShard = ManifestImportOptions.defaultSamplesPerShard

    @Option(help: "Stored image side in pixels (default: the --model's vision_config.image_size; not for Qwen2-VL).")
    var imageSize: Int?

    @Option(help: "A model directory: LLaVA's config.json gives the image size; Qwen2-VL's preprocessor_config.json smart-resizes each image to its own size.",
            transform: expandedPath)
    var model: String?

    @Option(help: "crop (default): resize the short side and crop the centre (hub processor); pad: pad to a square first (LLaVA-1.5 training). Not for Qwen2-VL.")
    var imageMode: RunConfiguration.ImageMode?

    @Flag(help: "Stop at the first bad line (non-zero exit, nothing written) instead of skipping it.")
    var strict = false

    @Option(help: "Images decoded in parallel (default: all cores).")
    var threads: Int?

    @Option(help: "Deflate level 1-9 of the stored images, 0 for none (level 1 saves ~25% on photos; reading then costs ~3 ms per 336-pixel image).")
    var deflateLevel = 1

    func validate() throws {
        guard samplesPerShard > 0 else { throw ValidationError("--samples-per-shard must be positive") }
        if let imageSize, imageSize <= 0 { throw ValidationError("--image-size must be positive") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
        guard (0...9).contains(deflateLevel) else { throw ValidationError("--deflate-level must be 0...9") }
        if imageSize == nil && model == nil {
            throw ValidationError("give the image size: --image-size S, or --model DIR to take "
                                  + "vision_config.image_size from DIR/config.json (LLaVA-1.5: 336), or, for a Qwen2-VL "
                                  + "DIR, each image's own size from its preprocessor_config.json")
        }
    }

    func run() throws {
        do {
            let sizing = try resolvedSizing()
            var options = ManifestImportOptions(sizing: sizing, samplesPerShard: samplesPerShard, split: split, strict: strict)
            if let threads { options.threads = threads }
            options.deflateLevel = deflateLevel == 0 ? nil : deflateLevel
            let bar = ProgressReporter()
            var shownIssues = 0
            let summary = try importManifest(manifest, into: output, options: options, onIssue: { issue in
                shownIssues += 1
                if shownIssues <= Self.issuesShown {
                    bar.message("\(manifest):\(issue.line): skipped (\(issue.kind.rawValue)): \(issue.reason)")
                } else if shownIssues == Self.issuesShown + 1 {
                    bar.message("further skipped lines are counted in the summary but not shown")
                }
            }, onProgress: { progress in bar.update(fraction: progress.fraction) { importProgressLine(progress, elapsed: bar.elapsed) } })
            bar.finish()
            print(Self.report(summary, output: output, split: split, sizing: sizing))
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    static let issuesShown = 100

    private func resolvedSizing() throws -> ImportSizing {
        let mode = imageMode ?? .crop
        guard let model else { return .fixed(size: imageSize!, mode: mode) }
        let fromModel = try ImportSizing.ofModel(model, mode: mode)
        switch fromModel {
        case .smartResized(let settings):
            // Qwen2-VL has no one image size to override: each image's size is what smart_resize makes of it.
            if let imageSize {
                throw ValidationError("--image-size \(imageSize) does not apply to the Qwen2-VL model \(model): its images keep their "
                                   + "own sizes, smart-resized to multiples of \(settings.factor) with \(settings.minPixels) to "
                                   + "\(settings.maxPixels) pixels (preprocessor_config.json); drop --image-size, or change "
                                   + "min_pixels / max_pixels there")
            }
            if let imageMode {
                throw ValidationError("--image-mode \(imageMode.rawValue) does not apply to the Qwen2-VL model \(model): its processor "
                                   + "neither crops nor pads (smart_resize keeps the aspect ratio); drop --image-mode")
            }
        case .fixed(let fromSize, _):
            if let imageSize, imageSize != fromSize {
                FileHandle.standardError.write(Data(("note: --image-size \(imageSize) overrides the model's "
                                                     + "vision_config.image_size \(fromSize)\n").utf8))
                return .fixed(size: imageSize, mode: mode)
            }
        }
        return fromModel
    }

    static func report(_ summary: ImportSummary, output: String, split: String, sizing: ImportSizing) -> String {
        let shards = summary.split?.shards.count ?? 0
        var lines = ["Imported \(summary.imported) samples into \((output as NSString).appendingPathComponent(split)) "
                     + "(\(shards) shard\(shards == 1 ? "" : "s"), \(sizing.summary))."]
        if summary.skipped > 0 {
            let parts = ImportIssueKind.allCases.compactMap { kind -> String? in
                let n = summary.count(kind)
                return n > 0 ? "\(n) \(kind.rawValue)" : nil
            }
            lines.append("Skipped \(summary.skipped) line\(summary.skipped == 1 ? "" : "s"): "
                         + parts.joined(separator: ", ") + ".")
        } else {
            lines.append("Skipped 0 lines.")
        }
        if let captions = summary.split?.captions {
            let more = captions.moreShort.map { " + \($0) more short (several per image)" } ?? ""
            lines.append("Captions: \(captions.short.count) short (mean \(captions.short.meanWords) words)\(more), "
                         + "\(captions.long.count) long (mean \(captions.long.meanWords) words), "
                         + "\(captions.withBoth) with both; negatives: "
                         + (captions.negatives.isEmpty ? "none"
                            : captions.negatives.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                                .joined(separator: ", ")) + ".")
        }
        return lines.joined(separator: "\n")
    }
}

