import ArgumentParser
import Configuration
import DataImport
import Foundation

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import a JSONL manifest of images and captions, or webdataset tar shards, into an HDF5 data set (docs/data.md).",
        discussion: """
            Each manifest line is {"image": "a.jpg", "short": "...", "long": "...", "negatives": {"type": "..."}} \
            or the evaluation form {"image": "a.jpg", "caption": "...", "negatives": {...}}; image paths are \
            relative to the manifest's folder. Bad lines are reported with their line number and skipped \
            (--strict: the first one stops the import). The split appears in DIR/dataset.json only once complete.
            --webdataset imports tar shards instead (a path or a brace pattern like 'shards/{00000..00127}.tar', \
            repeatable): members sharing a key form a sample, .jpg/.jpeg/.png/.webp the image, .txt the caption, \
            .json fields chosen by --caption-field / --long-caption-field. A rerun continues an interrupted import.
            """)

    @Option(help: "The JSONL manifest to import.", transform: expandedPath)
    var manifest: String?

    @Option(help: "Webdataset tar shards: a path or a brace pattern like 'shards/{00000..00127}.tar' (quote it); repeatable.",
            transform: expandedPath)
    var webdataset: [String] = []

    @Option(help: "Webdataset: the field of each sample's .json holding its short caption (a string or a list); without it, or when a .json lacks it, the .txt member.")
    var captionField: String?

    @Option(help: "Webdataset: the field of each sample's .json holding its long caption.")
    var longCaptionField: String?

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

    @Flag(help: "Stop at the first bad line (or webdataset sample or member; non-zero exit, nothing written) instead of skipping it.")
    var strict = false

    @Option(help: "Images decoded in parallel (default: all cores).")
    var threads: Int?

    @Option(help: "Deflate level 1-9 of the stored images, 0 for none (level 1 saves ~25% on photos; reading then costs ~3 ms per 336-pixel image).")
    var deflateLevel = 1

    func validate() throws {
        guard (manifest == nil) != webdataset.isEmpty else {
            throw ValidationError("give one source: --manifest FILE.jsonl, or --webdataset 'shards/{00000..00009}.tar'")
        }
        if webdataset.isEmpty && (captionField != nil || longCaptionField != nil) {
            throw ValidationError("--caption-field and --long-caption-field name fields of a webdataset's .json members; "
                                  + "they need --webdataset (a manifest's fields are \"short\" and \"long\")")
        }
        for (flag, field) in [("--caption-field", captionField), ("--long-caption-field", longCaptionField)] where field?.isEmpty == true {
            throw ValidationError("\(flag) must name a field, e.g. caption")
        }
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
            guard let manifest else { return try runWebDataset(options) }
            let bar = ProgressReporter()
            let skipped = SkippedItems(bar, what: "lines")
            let summary = try importManifest(manifest, into: output, options: options, onIssue: { issue in
                skipped.show("\(manifest):\(issue.line): skipped (\(issue.kind.rawValue)): \(issue.reason)")
            }, onProgress: bar.importProgress(unit: "lines"))
            bar.finish()
            print(importReport(imported: summary.imported, skipped: summary.issues.map(\.kind), nouns: ("line", "lines"),
                              split: summary.split, output: output, name: split, sizing: sizing))
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }


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
}

/// Shows the first `shown` skipped lines, samples or members on stderr, then says the rest are
/// only counted.
final class SkippedItems {
    static let shown = 100
    private let bar: ProgressReporter
    private let what: String
    private var count = 0

    init(_ bar: ProgressReporter, what: String) { (self.bar, self.what) = (bar, what) }

    func show(_ message: String) {
        count += 1
        if count <= Self.shown {
            bar.message(message)
        } else if count == Self.shown + 1 {
            bar.message("further skipped \(what) are counted in the summary but not shown")
        }
    }
}
