import Foundation
import Formats
import Images
import ModelFiles
import XCTest

final class Qwen2VLSettingsTests: XCTestCase {
    private func parse(_ json: String) throws(FormatError) -> Qwen2VLImageSettings {
        try Qwen2VLImageSettings.parse(Array(json.utf8), source: "model/preprocessor_config.json")
    }

    /// Parsing must fail with a message that names the file and every word in `words`.
    private func assertRefused(_ json: String, mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) {
        do {
            let settings = try parse(json)
            XCTFail("accepted \(json) as \(settings)", file: file, line: line)
        } catch {
            let text = error.description
            XCTAssertTrue(text.hasPrefix("model/preprocessor_config.json"), text, file: file, line: line)
            for word in words { XCTAssertTrue(text.contains(word), "'\(word)' missing in: \(text)", file: file, line: line) }
        }
    }

    func testFixtureConfigsWrittenByTransformers() throws {
        let qwen = try Qwen2VLImageSettings.load(directory: Qwen2VLFixtures.configDirectory("qwen2vl"))
        XCTAssertEqual(qwen, Qwen2VLImageSettings(minPixels: 56 * 56, maxPixels: 28 * 28 * 64))
        let odd = try Qwen2VLImageSettings.load(directory: Qwen2VLFixtures.configDirectory("odd"))
        XCTAssertEqual(odd, Qwen2VLImageSettings(patchSize: 8, mergeSize: 3, temporalPatchSize: 3, minPixels: 24 * 24 * 2,
                                                  maxPixels: 24 * 24 * 6, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3]))
        // The hub's older layout: top-level min_pixels / max_pixels, no size.
        let older = try Qwen2VLImageSettings.load(directory: Qwen2VLFixtures.configDirectory("older"))
        XCTAssertEqual(older, Qwen2VLImageSettings(patchSize: 8, mergeSize: 2, temporalPatchSize: 1, minPixels: 512, maxPixels: 2560))
    }

    func testMissingKeysTakeTransformersDefaults() throws {
        XCTAssertEqual(try parse("{}"), Qwen2VLImageSettings())
        XCTAssertEqual(try parse("{}").maxPixels, 28 * 28 * 1280)
        XCTAssertEqual(try parse(#"{"image_mean": 0.5, "image_std": 0.25}"#).mean, [0.5, 0.5, 0.5])
    }

    func testMinAndMaxPixelsOverrideSize() throws {
        // As in transformers' __init__: the top-level keys win over size's entries.
        let both = try parse(#"{"size": {"shortest_edge": 1000, "longest_edge": 5000}, "min_pixels": 2000}"#)
        XCTAssertEqual([both.minPixels, both.maxPixels], [2000, 5000])
        // transformers 4.x files: size {min_pixels, max_pixels}, dropped in favour of the top-level keys.
        let old = try parse(#"{"size": {"min_pixels": 1, "max_pixels": 2}, "min_pixels": 3136, "max_pixels": 12845056}"#)
        XCTAssertEqual([old.minPixels, old.maxPixels], [3136, 12845056])
    }

    func testUnsupportedStepsAreRefusedByKey() {
        assertRefused(#"{"do_resize": false}"#, mentioning: ["'do_resize'", "set it to true"])
        assertRefused(#"{"do_rescale": false}"#, mentioning: ["'do_rescale'"])
        assertRefused(#"{"do_normalize": false}"#, mentioning: ["'do_normalize'"])
        assertRefused(#"{"do_convert_rgb": false}"#, mentioning: ["'do_convert_rgb'"])
        assertRefused(#"{"resample": 2}"#, mentioning: ["'resample'", "is 2", "bicubic"])
        assertRefused(#"{"rescale_factor": 0}"#, mentioning: ["rescale_factor"])
        assertRefused(#"{"image_processor_type": "CLIPImageProcessor"}"#, mentioning: ["'image_processor_type'", "CLIPImageProcessor"])
    }

    func testBadValuesAreRefusedByKey() {
        assertRefused(#"{"patch_size": 0}"#, mentioning: ["patch_size", "0"])
        assertRefused(#"{"merge_size": "2"}"#, mentioning: ["'merge_size'", "expected an integer"])
        assertRefused(#"{"temporal_patch_size": 1.5}"#, mentioning: ["'temporal_patch_size'"])
        assertRefused(#"{"image_mean": [0.5, 0.5]}"#, mentioning: ["'image_mean'", "3"])
        assertRefused(#"{"image_std": [0.5, 0, 0.5]}"#, mentioning: ["image_std", "positive"])
        assertRefused(#"{"size": {"shortest_edge": 100}}"#, mentioning: ["'size'", "longest_edge"])
        assertRefused(#"{"size": {"longest_edge": 100}}"#, mentioning: ["'size'", "shortest_edge"])
        assertRefused(#"{"size": {"shortest_edge": 100, "longest_edge": 500, "height": 4}}"#, mentioning: ["'size.height'"])
        assertRefused(#"{"size": {"min_pixels": 100, "max_pixels": 500}}"#, mentioning: ["'size.min_pixels'", "shortest_edge"])
        assertRefused(#"{"size": {"shortest_edge": 0, "longest_edge": 500}}"#, mentioning: ["shortest_edge", "between 1"])
        assertRefused(#"{"min_pixels": 5000, "max_pixels": 1000}"#, mentioning: ["above", "5000", "1000"])
        assertRefused(#"{"patch_size": 14,}"#, mentioning: ["not valid JSON"])
    }

    func testMissingFileIsNamed() {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-no-such-model-\(getpid())")
        XCTAssertThrowsError(try Qwen2VLImageSettings.load(directory: folder)) { error in
            XCTAssertTrue("\(error)".contains("preprocessor_config.json: not found"), "\(error)")
        }
    }

    func testPatchRowsFollowMergeWindows() throws {
        // Rescale 1, mean 0, std 1: each value is its byte. Red = x, green = y, blue = 10 y + x.
        let settings = Qwen2VLImageSettings(patchSize: 2, mergeSize: 2, temporalPatchSize: 2, minPixels: 1, maxPixels: 1 << 20,
                                            rescaleFactor: 1, mean: [0, 0, 0], std: [1, 1, 1])
        let processor = try Qwen2VLImageProcessor(settings: settings)
        let width = 8, height = 4
        func channels(_ x: Int, _ y: Int) -> [Int] { [x, y, 10 * y + x] }
        var pixels: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width { pixels += channels(x, y).map { UInt8($0) } }
        }
        let output = try processor.pixelValues(ofResized: RGBImage(width: width, height: height, pixels: pixels), source: "grid")
        XCTAssertEqual(output.grid, Qwen2VLImageGrid(temporal: 1, height: 2, width: 4))
        XCTAssertEqual(output.patchLength, 3 * 2 * 2 * 2)
        // Each 2 x 2 window of patches in turn, its patches row by row: (top, left) of each patch.
        let origins = [(0, 0), (0, 2), (2, 0), (2, 2), (0, 4), (0, 6), (2, 4), (2, 6)]
        for (row, (top, left)) in origins.enumerated() {
            var expected: [Float] = []
            for c in 0..<3 {
                for _ in 0..<2 {  // the same frame twice
                    for y in top..<top + 2 {
                        for x in left..<left + 2 { expected.append(Float(channels(x, y)[c])) }
                    }
                }
            }
            XCTAssertEqual(Array(output.values[row * 24..<(row + 1) * 24]), expected, "row \(row)")
        }
    }
}
