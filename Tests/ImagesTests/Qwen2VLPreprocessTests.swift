import Foundation
import Formats
import Images
import TestSupport
import ModelFiles
import XCTest

final class Qwen2VLPreprocessTests: XCTestCase {
    /// pixel_values against transformers: the float stage repeats its float32 operations (the
    /// normalisation table), so identical bytes give identical floats and 0 is what we measure;
    /// 1e-6 is the parity bound asked of the port (a few float32 roundings of O(1) values).
    static let pixelValueTolerance: Float = 1e-6

    private func processor(_ config: String) throws -> Qwen2VLImageProcessor {
        try Qwen2VLImageProcessor(settings: Qwen2VLImageSettings.load(directory: Qwen2VLFixtures.configDirectory(config)))
    }

    func testPixelValuesAndGridMatchTransformers() throws {
        let manifest = try Qwen2VLFixtures.manifest()
        let reference = try Qwen2VLFixtures.pixelValues()
        XCTAssertGreaterThanOrEqual(manifest.cases.count, 20)
        var worst: Float = 0, checked = 0, full = 0
        for testCase in manifest.cases {
            let processor = try processor(testCase.config)
            // transformers 5's convert_to_rgb composites alpha onto white.
            let image = try loadImage(path: Fixtures.path(testCase.image), alpha: .compositeOnWhite)
            XCTAssertEqual([image.width, image.height], [testCase.source_width, testCase.source_height], testCase.name)
            let resized = try processor.resized(image, source: testCase.image)
            XCTAssertEqual([resized.width, resized.height], [testCase.resized_width, testCase.resized_height], testCase.name)
            XCTAssertEqual(fnv1a64(resized.pixels), testCase.resized_fnv1a64, "\(testCase.name): uint8 image after resize")

            let output = try processor.pixelValues(ofResized: resized, source: testCase.image)
            XCTAssertEqual([output.grid.temporal, output.grid.height, output.grid.width], testCase.image_grid_thw, testCase.name)
            XCTAssertEqual([output.grid.patchCount, output.patchLength], [testCase.rows, testCase.columns], testCase.name)
            var difference: Float = 0
            if testCase.stored == "full" {
                difference = maxFloatDifference(output.values, try reference.floats("\(testCase.name).pixel_values"))
                checked += output.values.count
                full += 1
            } else {
                let indices = try reference.int32s("\(testCase.name).index")
                difference = maxFloatDifference(indices.map { output.values[$0] }, try reference.floats("\(testCase.name).values"))
                checked += indices.count
            }
            XCTAssertLessThanOrEqual(difference, Self.pixelValueTolerance, "\(testCase.name): pixel_values")
            worst = max(worst, difference)
        }
        print("Qwen2-VL preprocessing vs transformers \(manifest.versions.transformers) / Pillow \(manifest.versions.pillow): "
              + "\(manifest.cases.count) cases (\(full) whole tensors), max |pixel_values diff| = \(worst) over \(checked) values")
    }

    func testSmartResizeMatchesTransformersTable() throws {
        let table = try Qwen2VLFixtures.smartResizeTable()
        XCTAssertGreaterThanOrEqual(table.count, 500)
        var refused = 0
        for row in table {
            let label = "smart_resize(\(row.height), \(row.width), \(row.factor), \(row.min_pixels), \(row.max_pixels))"
            do {
                let size = try smartResize(width: row.width, height: row.height, factor: row.factor,
                                           minPixels: row.min_pixels, maxPixels: row.max_pixels, source: "table")
                XCTAssertEqual([size.height, size.width], row.result, label)
            } catch {
                XCTAssertNil(row.result, "\(label) threw \(error)")
                XCTAssertEqual(error.kind, .aspectRatioTooLarge, label)
                refused += 1
            }
        }
        XCTAssertGreaterThan(refused, 0, "the table has refused ratios")
    }

    func testRoundingTiesGoToEven() throws {
        // 70 / 28 = 2.5 -> 2 and 98 / 28 = 3.5 -> 4 (Python's round), not 3 and 4.
        XCTAssertTrue(try smartResize(width: 70, height: 98, factor: 28, minPixels: 3136, maxPixels: 1 << 30, source: "t") == (56, 112))
        XCTAssertTrue(try smartResize(width: 126, height: 42, factor: 28, minPixels: 1, maxPixels: 1 << 30, source: "t") == (112, 56))
    }

    func testRefusedAspectRatiosNameTheImageAndItsSize() throws {
        let manifest = try Qwen2VLFixtures.manifest()
        XCTAssertFalse(manifest.refused.isEmpty)
        for refused in manifest.refused {
            let image = try loadImage(path: Fixtures.path(refused.image), alpha: .compositeOnWhite)
            XCTAssertThrowsError(try processor(refused.config).preprocess(image, source: refused.image)) { error in
                let error = error as? ImageError
                XCTAssertEqual(error?.kind, .aspectRatioTooLarge, "\(refused.image): \(refused.transformers_message)")
                let text = error?.description ?? ""
                for word in [refused.image, "\(refused.width) x \(refused.height)", "200"] {
                    XCTAssertTrue(text.contains(word), "'\(word)' missing in: \(text)")
                }
            }
        }
        // Exactly 200:1 is still accepted, as in transformers.
        XCTAssertNoThrow(try smartResize(width: 1, height: 200, factor: 28, minPixels: 3136, maxPixels: 50176, source: "t"))
    }

    func testResizedImageMustBePatchAligned() throws {
        let processor = try Qwen2VLImageProcessor()
        let image = RGBImage(width: 56, height: 30, filledWith: (1, 2, 3))
        XCTAssertThrowsError(try processor.pixelValues(ofResized: image, source: "shard 2, key 7")) { error in
            XCTAssertEqual((error as? ImageError)?.kind, .wrongSize)
            XCTAssertTrue("\(error)".hasPrefix("shard 2, key 7: is 56 x 30 pixels"), "\(error)")
        }
    }

    func testPointerOutputEqualsArrayOutput() throws {
        let processor = try processor("odd")
        let image = try loadImage(path: Fixtures.path("tiny_20x30.png"))
        let resized = try processor.resized(image, source: "tiny")
        let values = try processor.pixelValues(ofResized: resized, source: "tiny")
        var doubles = [Double](repeating: .nan, count: values.values.count)
        let grid = try doubles.withUnsafeMutableBufferPointer { buffer throws(ImageError) in
            try processor.pixelValues(ofResized: resized, source: "tiny", into: buffer.baseAddress!)
        }
        XCTAssertEqual(grid, values.grid)
        XCTAssertEqual(doubles, values.values.map(Double.init))
        XCTAssertEqual(try processor.preprocess(image, source: "tiny"), values)
    }
}
