import Formats
import Foundation
import Images
import Layers
import ModelFiles
import Models

/// What `discern embed` and `discern eval` read from the command line: the model directory, the
/// default prompts, image files and caption files; so the executable needs no lower module.
extension Embedder {
    /// The model directory at `path`, its configuration and tokenizer checked (not its weights):
    /// opened first, so a bad directory is reported before any other input is read.
    package static func openModel(_ path: String) throws -> ModelDirectory {
        try ModelDirectory(path: path)
    }

    /// The E5-V prompt templates Discern uses unless told otherwise.
    package static let defaultImagePrompt = PromptTemplates().image
    package static let defaultTextPrompt = PromptTemplates().text

    /// `embed`'s form: the prompt templates as two strings.
    package convenience init(directory: ModelDirectory, checkpoint: String?, adapters: String?, imagePrompt: String, textPrompt: String,
                            imageMode: ImagePreprocessingConfig.Mode, batchSize: Int, halfWeights: Bool,
                            compute: ComputePrecision = .fp32) throws {
        try self.init(directory: directory, checkpoint: checkpoint, adapters: adapters,
                      templates: PromptTemplates(image: imagePrompt, text: textPrompt),
                      imageMode: imageMode, batchSize: batchSize, halfWeights: halfWeights, compute: compute)
    }

    /// Decodes JPEG or PNG files (an error names the file).
    package static func loadImages(_ paths: [String]) throws -> [RGBImage] {
        try paths.map { try loadImage(path: $0) }
    }
}

/// One caption per line, LF or CRLF (split on bytes: Swift's String treats "\r\n" as one
/// character, so splitting a String on "\n" merged a CRLF file into one caption); blank lines
/// are skipped; text that is not UTF-8 is an error naming the line.
package func readCaptionLines(_ path: String) throws -> [String] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CaptionFileError("\(path): no such file (expected one caption per line).")
    }
    var lines: [String] = []
    for (number, raw) in try readFileBytes(path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        let line = raw.last == 0x0D ? raw.dropLast() : raw
        guard let text = String(validating: line, as: UTF8.self) else {
            throw CaptionFileError("\(path):\(number + 1): not valid UTF-8 text; save the captions file as UTF-8.")
        }
        if !text.trimmingCharacters(in: .whitespaces).isEmpty { lines.append(text) }
    }
    return lines
}

package struct CaptionFileError: Error, CustomStringConvertible {
    package let description: String
    init(_ description: String) { self.description = description }
}

extension EvalReport {
    /// A report `discern eval --output` wrote, strictly parsed (a damaged file is an error naming it).
    package static func load(_ path: String) throws -> EvalReport {
        try StrictJSON.decode(EvalReport.self, path: path)
    }

    /// Written whole or not at all.
    package func write(to path: String) throws {
        try JSONOutput.encode(self, style: .document).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
