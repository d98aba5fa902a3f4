import ArgumentParser
import Evaluation
import Formats
import Foundation
import HDF5Files
import Images
import ModelFiles
import Models

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed images and/or texts into one L2-normalised space and write them to HDF5.",
        discussion: """
        Writes /image_embeddings [n_images, hidden] and /text_embeddings [n_texts, hidden] (float32), plus
        /image_files and /texts, with attributes naming the model, the adapters and the prompts.
        Example: discern embed --model checkpoints/tiny-base --images a.png b.jpg --texts captions.txt --output emb.h5
        """)

    @Option(help: "Hugging Face LLaVA model directory.", transform: expandedPath) var model: String
    @Option(help: "A training checkpoint (RUN_DIR/step-*.h5) whose adapters to apply.", transform: expandedPath) var checkpoint: String?
    @Option(help: "An export directory (discern export) whose LoRA and soft prompts to apply.", transform: expandedPath) var adapters: String?
    @Option(parsing: .upToNextOption, help: "Image files (JPEG or PNG).", transform: expandedPath) var images: [String] = []
    @Option(help: "A text file with one caption per line (blank lines are skipped).", transform: expandedPath) var texts: String?
    @Option(help: "Output HDF5 file.", transform: expandedPath) var output: String
    @Option(help: "Image prompt template (ignored with --checkpoint, which stores its own).") var imagePrompt = PromptTemplates().image
    @Option(help: "Text prompt template (ignored with --checkpoint).") var textPrompt = PromptTemplates().text
    @Option(help: "Image preprocessing: crop (Hugging Face processor) or pad (LLaVA training).") var imageMode = "crop"
    @Option(help: "Images or texts per forward pass.") var batchSize = 16
    @Flag(help: "Keep F16/BF16 base weights memory-mapped and widen them per use (a 7B model in ~14 GB instead of ~28 GB; same embeddings).")
    var halfWeights = false

    func validate() throws {
        guard !images.isEmpty || texts != nil else { throw ValidationError("give --images, --texts or both.") }
        guard ["crop", "pad"].contains(imageMode) else { throw ValidationError("--image-mode must be crop or pad, not \(imageMode).") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive.") }
        guard checkpoint == nil || adapters == nil else { throw ValidationError("give --checkpoint or --adapters, not both.") }
    }

    func run() throws {
        let directory = try ModelDirectory(path: model)
        // Before the weights load: a bad caption file is reported in a second, not after a minute.
        let lines = try texts.map(captionLines) ?? []
        let embedder = try Embedder(directory: directory, checkpoint: checkpoint, adapters: adapters,
                                    templates: PromptTemplates(image: imagePrompt, text: textPrompt),
                                    imageMode: imageMode == "pad" ? .padToSquare : .crop, batchSize: batchSize,
                                    halfWeights: halfWeights)
        let decoded = try images.map { try loadImage(path: $0) }
        let progress = ProgressLine(total: decoded.count + lines.count, label: "embedding")
        let imageEmbeddings = try embedder.embedImages(decoded) { progress.update($0) }
        let textEmbeddings = try embedder.embedTexts(lines) { progress.update(decoded.count + $0) }
        progress.finish()

        removeStaleTemporaries(of: output)   // left by a killed earlier run writing the same file
        let temporary = output + ".tmp-\(getpid())"
        do {
            let file = try H5File.create(temporary)
            let width = embedder.width
            try file.write(imageEmbeddings, shape: [decoded.count, width], to: "/image_embeddings")
            try file.write(textEmbeddings, shape: [lines.count, width], to: "/text_embeddings")
            try file.write(images, shape: [images.count], to: "/image_files")
            try file.write(lines, shape: [lines.count], to: "/texts")
            try file.setAttribute("model", .string(directory.url.path))
            try file.setAttribute("adapters", .string(checkpoint ?? adapters ?? "none"))
            try file.setAttribute("image_prompt", .string(embedder.prompts.templates.image))
            try file.setAttribute("text_prompt", .string(embedder.prompts.templates.text))
            try file.setAttribute("image_mode", .string(imageMode))
            try file.close()
            try durableRename(from: temporary, to: output)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        print("wrote \(decoded.count) image and \(lines.count) text embeddings (\(embedder.width) wide) to \(output)")
    }
}

/// A single updating progress line on stderr for long inputs: rate and ETA, redrawn in place on
/// a terminal, a line every 10% otherwise.
final class ProgressLine {
    let total: Int, label: String
    let start = Date()
    let terminal = isatty(STDERR_FILENO) != 0
    var lastDecile = -1

    init(total: Int, label: String) {
        self.total = total
        self.label = label
    }

    func update(_ done: Int) {
        guard total >= 32 else { return }
        let elapsed = Date().timeIntervalSince(start), rate = Double(done) / max(elapsed, 1e-9)
        let eta = Double(total - done) / max(rate, 1e-9)
        let text = String(format: "%@ %d/%d (%.0f%%)  %.1f/s  ETA %.0fs", label, done, total, 100 * Double(done) / Double(total), rate, eta)
        if terminal {
            FileHandle.standardError.write(Data(("\r" + text + "   ").utf8))
        } else if done * 10 / total > lastDecile {
            lastDecile = done * 10 / total
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    func finish() {
        if terminal && total >= 32 { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// One caption per line, LF or CRLF (split on bytes: Swift's String treats "\r\n" as one
/// character, so splitting a String on "\n" merged a CRLF file into one caption); blank lines
/// are skipped; text that is not UTF-8 is an error naming the line.
func captionLines(_ path: String) throws -> [String] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw ValidationError("\(path): no such file (expected one caption per line).")
    }
    var lines: [String] = []
    for (number, raw) in try readFileBytes(path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        let line = raw.last == 0x0D ? raw.dropLast() : raw
        guard let text = String(validating: line, as: UTF8.self) else {
            throw ValidationError("\(path):\(number + 1): not valid UTF-8 text; save the captions file as UTF-8.")
        }
        if !text.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(text) }
    }
    return lines
}
