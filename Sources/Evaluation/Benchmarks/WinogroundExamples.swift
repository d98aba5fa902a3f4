import Formats
import Foundation

/// Winoground (Thrush et al., 2022) as published: `examples.jsonl`, one example per line with
/// `caption_0`, `caption_1`, `image_0`, `image_1` (image names without extension; the files are
/// `<images>/<name>.png`). Other fields (`id`, `tag`, ...) are ignored.
package struct WinogroundBenchmark: Sendable {
    package struct Example: Sendable {
        package var images: (String, String)
        package var captions: (String, String)
    }
    package var examples: [Example]
}

package enum WinogroundExamples {
    package static func read(_ path: String, images root: String) throws -> WinogroundBenchmark {
        var examples: [WinogroundBenchmark.Example] = []
        var paths: [String] = [], places: [String] = []
        for (number, line) in try nonBlankLines(path) {
            let place = "\(path):\(number)"
            let entry = try JSONNode.parse(line, file: place).object()
            func image(_ key: String) throws -> String {
                let path = URL(fileURLWithPath: root).appendingPathComponent(try entry.string(key) + ".png").path
                paths.append(path)
                places.append("line \(number): \(key)")
                return path
            }
            examples.append(.init(images: (try image("image_0"), try image("image_1")),
                                  captions: (try entry.string("caption_0"), try entry.string("caption_1"))))
        }
        guard !examples.isEmpty else { throw FormatError(file: path, "holds no examples") }
        try requireImageFiles(paths, places: places, file: path, root: root)
        return WinogroundBenchmark(examples: examples)
    }
}

/// The lines of a JSONL file that hold anything, numbered from 1; LF or CRLF.
func nonBlankLines(_ path: String) throws -> [(number: Int, bytes: [UInt8])] {
    guard FileManager.default.fileExists(atPath: path) else { throw FormatError(file: path, "no such file") }
    var lines: [(number: Int, bytes: [UInt8])] = []
    for (index, line) in try readFileBytes(path).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        lines.append((index + 1, Array(line)))
    }
    return lines
}
