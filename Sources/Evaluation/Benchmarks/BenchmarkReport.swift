import Formats
import Foundation

/// `discern eval`'s report on published benchmarks; the JSON keys are the documented format
/// (docs/eval.md). Fractions in [0, 1]; the printed table shows percent.
package struct BenchmarkReport: Codable, Sendable {
    package var model: String
    package var checkpoint: String?
    package var benchmarks: [BenchmarkResult]
    /// What the run embedded: each distinct image file and text once, however many benchmarks share it.
    package var embeddedImages: Int
    package var embeddedTexts: Int

    enum CodingKeys: String, CodingKey {
        case model, checkpoint, benchmarks, embeddedImages = "embedded_images", embeddedTexts = "embedded_texts"
    }
}

package struct BenchmarkResult: Codable, Sendable {
    package var name: String
    package var data: String
    /// Exactly one of the three is present.
    package var retrieval: RetrievalResult?
    package var sugarcrepe: SugarCrepeResult?
    package var winoground: WinogroundResult?

    package struct RetrievalResult: Codable, Sendable {
        package var split: String
        package var images: Int, captions: Int
        package var imageToText: RetrievalMetrics.Recall, textToImage: RetrievalMetrics.Recall
        enum CodingKeys: String, CodingKey { case split, images, captions, imageToText = "image_to_text", textToImage = "text_to_image" }
    }

    package struct SugarCrepeResult: Codable, Sendable {
        /// Accuracy per category present, and the group means (add, replace, swap).
        package var categories: [String: Double], groups: [String: Double]
        package var items: [String: Int]
        package var missing: [String]
    }

    package struct WinogroundResult: Codable, Sendable {
        package var examples: Int
        package var text: Double, image: Double, group: Double
    }
}

extension BenchmarkReport {
    package var table: String {
        (benchmarks.map(\.table) + ["embedded \(embeddedImages) distinct images and \(embeddedTexts) distinct texts"]).joined(separator: "\n\n")
    }

    /// Written whole or not at all.
    package func write(to path: String) throws {
        try JSONOutput.encode(self, style: .document).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

func percentCell(_ x: Double) -> String { String(format: "%6.1f", 100 * x) }

extension BenchmarkResult {
    var table: String {
        if let r = retrieval {
            return ["\(name), split \(r.split): \(r.images) images, \(r.captions) captions",
                    "                         R@1    R@5   R@10",
                    "image -> text        \(percentCell(r.imageToText.r1)) \(percentCell(r.imageToText.r5)) \(percentCell(r.imageToText.r10))",
                    "text -> image        \(percentCell(r.textToImage.r1)) \(percentCell(r.textToImage.r5)) \(percentCell(r.textToImage.r10))",
            ].joined(separator: "\n")
        }
        if let s = sugarcrepe {
            var lines = ["\(name) (accuracy %)"]
            for category in SugarCrepeFiles.categories {
                guard let accuracy = s.categories[category] else { continue }
                lines.append("  " + category.padding(toLength: 14, withPad: " ", startingAt: 0) + percentCell(accuracy) + "   (\(s.items[category] ?? 0) items)")
            }
            for group in SugarCrepeFiles.groups {
                guard let mean = s.groups[group] else { continue }
                lines.append("  " + (group + " (mean)").padding(toLength: 14, withPad: " ", startingAt: 0) + percentCell(mean))
            }
            if !s.missing.isEmpty { lines.append("  missing: " + s.missing.joined(separator: ", ")) }
            return lines.joined(separator: "\n")
        }
        guard let w = winoground else { return name }
        return ["\(name): \(w.examples) examples (%)", "  text   image   group",
                "\(percentCell(w.text))  \(percentCell(w.image))  \(percentCell(w.group))"].joined(separator: "\n")
    }
}
