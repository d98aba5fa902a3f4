import Datasets
import Synthetic
import Foundation
import Images
import XCTest

/// Writes contact sheets of the synthetic data for a person to look at, when
/// DISCERN_SYNTH_PREVIEW names a folder; otherwise only checks the sheet's geometry.
final class SyntheticPreviewTests: XCTestCase {
    func testContactSheet() throws {
        let data = try SyntheticDataset(seed: 7)
        let samples = try data.evalSamples(count: 24)
        let sheet = contactSheet(samples.map(\.image), side: 32, columns: 6, scale: 8)
        XCTAssertEqual(sheet.width, 6 * 256 + 7 * 2)
        XCTAssertEqual(sheet.height, 4 * 256 + 5 * 2)
        guard let folder = ProcessInfo.processInfo.environment["DISCERN_SYNTH_PREVIEW"] else { return }
        try writePNG(sheet, to: folder + "/eval.png")
        var lines: [String] = []
        for sample in samples {
            lines.append("\(sample.id): \(sample.short!)")
            lines.append("  long: \(sample.long!)")
            for key in sample.negatives.keys.sorted() { lines.append("  \(key): \(sample.negatives[key]!)") }
        }
        try lines.joined(separator: "\n").write(toFile: folder + "/eval.txt", atomically: true, encoding: .utf8)
        let train = data.trainSamples(0..<24)
        try writePNG(contactSheet(train.map(\.image), side: 32, columns: 6, scale: 8), to: folder + "/train.png")
        try train.map { "\($0.id): \($0.short!)" }.joined(separator: "\n").write(toFile: folder + "/train.txt", atomically: true, encoding: .utf8)
    }
}
