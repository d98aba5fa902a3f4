import Foundation
import Images
import TestSupport
import XCTest

final class PreprocessTests: XCTestCase {
    /// Our resize, crop and pad reproduce PIL/transformers integer for integer: any difference in
    /// the uint8 image before rescaling is a bug.
    static let pixelMaxDifference = 0
    /// The float stage repeats transformers' float32 operations exactly (float64 rescale rounded to
    /// float32, then float32 subtract and divide), so identical bytes give identical floats.
    static let floatMaxDifference: Float = 0

    private func config(for testCase: FixtureManifest.Case, _ manifest: FixtureManifest) -> ImagePreprocessingConfig {
        ImagePreprocessingConfig(mode: testCase.mode == "pad" ? .padToSquare : .crop,
                                 shortestEdge: testCase.shortest_edge, cropHeight: testCase.crop_height,
                                 cropWidth: testCase.crop_width, mean: manifest.clip_mean, std: manifest.clip_std)
    }

    func testMatchesTransformersCLIPImageProcessor() throws {
        let manifest = try Fixtures.manifest()
        var worstPixel = 0, worstFloat: Float = 0, checkedFloats = 0
        for testCase in manifest.cases {
            let alpha = AlphaHandling(rawValue: testCase.alpha)!
            let image = try loadImage(path: Fixtures.path(testCase.image), alpha: alpha)
            let preprocessor = try ImagePreprocessor(config: config(for: testCase, manifest))
            let cropped = preprocessor.resizedAndCropped(image)
            XCTAssertEqual(cropped.width, testCase.crop_width, testCase.name)
            XCTAssertEqual(cropped.height, testCase.crop_height, testCase.name)

            var pixelDifference = 0
            if let reference = testCase.crop_png {
                pixelDifference = maxByteDifference(cropped.pixels, try loadImage(path: Fixtures.path(reference)).pixels)
            } else if fnv1a64(cropped.pixels) != testCase.crop_fnv1a64 {
                pixelDifference = Int.max
                XCTFail("\(testCase.name): uint8 crop differs from transformers (hash only, no reference image)")
            }
            XCTAssertLessThanOrEqual(pixelDifference, Self.pixelMaxDifference, "\(testCase.name): uint8 before rescale")
            XCTAssertEqual(fnv1a64(cropped.pixels), testCase.crop_fnv1a64, "\(testCase.name): uint8 hash")

            let output = preprocessor.preprocess(image)
            var floatDifference: Float = 0
            if let file = testCase.floats {
                floatDifference = maxFloatDifference(output, try Fixtures.floats(file))
                checkedFloats += output.count
            } else if let file = testCase.samples {
                let (indices, values) = try Fixtures.samples(file)
                floatDifference = maxFloatDifference(indices.map { output[$0] }, values)
                checkedFloats += indices.count
            }
            XCTAssertLessThanOrEqual(floatDifference, Self.floatMaxDifference, "\(testCase.name): normalised floats")
            worstPixel = max(worstPixel, pixelDifference)
            worstFloat = max(worstFloat, floatDifference)
        }
        print("CLIP preprocessing vs transformers \(manifest.versions.transformers) / Pillow \(manifest.versions.pillow): "
              + "\(manifest.cases.count) cases, max |uint8 diff| = \(worstPixel), "
              + "max |float diff| = \(worstFloat) over \(checkedFloats) values")
    }

    func testResizeMatchesPillowAtOtherSizes() throws {
        let manifest = try Fixtures.manifest()
        XCTAssertFalse(manifest.resizes.isEmpty)
        for check in manifest.resizes {
            let image = try loadImage(path: Fixtures.path(check.image))
            let resized = resizeBicubic(image, width: check.width, height: check.height)
            XCTAssertEqual(fnv1a64(resized.pixels), check.fnv1a64,
                           "\(check.image) -> \(check.width) x \(check.height) differs from PIL")
        }
    }

    func testImageAlreadyAtSizePassesResizeUnchanged() throws {
        let image = try loadImage(path: Fixtures.path("square_336x336.png"))
        XCTAssertEqual(resizeBicubic(image, width: 336, height: 336), image)
        XCTAssertEqual(try ImagePreprocessor().resizedAndCropped(image), image)
        XCTAssertEqual(try ImagePreprocessor(config: .llava15(mode: .padToSquare)).resizedAndCropped(image), image)
    }

    func testResizeOfConstantImageStaysConstant() {
        // Normalised weights sum to one, so flat colour survives any scale factor exactly.
        let flat = RGBImage(width: 37, height: 23, filledWith: (200, 7, 255))
        for (w, h) in [(336, 210), (5, 3), (37, 100), (90, 23)] {
            XCTAssertEqual(resizeBicubic(flat, width: w, height: h), RGBImage(width: w, height: h, filledWith: (200, 7, 255)))
        }
    }

    func testShortestEdgeSizeTruncatesLikeTransformers() {
        XCTAssertTrue(shortestEdgeResizeSize(width: 500, height: 375, shortestEdge: 336) == (448, 336))
        XCTAssertTrue(shortestEdgeResizeSize(width: 333, height: 500, shortestEdge: 336) == (336, 504))
        XCTAssertTrue(shortestEdgeResizeSize(width: 20, height: 30, shortestEdge: 336) == (336, 504))
        // 336 * 641 / 480 = 448.7: int() truncates, it does not round.
        XCTAssertTrue(shortestEdgeResizeSize(width: 641, height: 480, shortestEdge: 336) == (448, 336))
        XCTAssertTrue(shortestEdgeResizeSize(width: 336, height: 336, shortestEdge: 336) == (336, 336))
    }

    func testCenterCropOffsetsAndPadding() {
        // 5 x 4 image whose red channel is the pixel index.
        let pixels: [UInt8] = (0..<20).flatMap { [UInt8($0), 0, 0] }
        let image = RGBImage(width: 5, height: 4, pixels: pixels)
        let red = { (i: RGBImage) in stride(from: 0, to: i.pixels.count, by: 3).map { i.pixels[$0] } }
        // (5 - 2) // 2 = 1, (4 - 3) // 2 = 0.
        XCTAssertEqual(red(centerCrop(image, width: 2, height: 3)), [1, 2, 6, 7, 11, 12])
        // Larger than the image: zeros, with ceil((8 - 5) / 2) = 2 columns on the left.
        let padded = centerCrop(image, width: 8, height: 4)
        XCTAssertEqual(Array(red(padded).prefix(8)), [0, 0, 0, 1, 2, 3, 4, 0])
    }

    func testExpandToSquareCentresLikeLLaVA() {
        let image = RGBImage(width: 3, height: 6, filledWith: (1, 2, 3))
        let square = expandToSquare(image, background: (122, 116, 104))
        XCTAssertEqual(square.width, 6)
        // (6 - 3) // 2 = 1 column of background on the left, 2 on the right.
        let row = Array(square.pixels[0..<18])
        XCTAssertEqual(row, [122, 116, 104, 1, 2, 3, 1, 2, 3, 1, 2, 3, 122, 116, 104, 122, 116, 104])
    }

    func testLLaVAPadColourIsTruncatedMeanTimes255() {
        XCTAssertEqual(ImagePreprocessingConfig.llava15(mode: .padToSquare).padColor, [122, 116, 104])
    }

    func testOutputIntoCallerBufferIsChannelsFirst() throws {
        let config = ImagePreprocessingConfig(shortestEdge: 4)
        let preprocessor = try ImagePreprocessor(config: config)
        let image = RGBImage(width: 4, height: 4, filledWith: (255, 0, 128))
        var output = [Double](repeating: .nan, count: preprocessor.outputCount)
        output.withUnsafeMutableBufferPointer { preprocessor.preprocess(image, into: $0.baseAddress!) }
        let expected = [(1.0, 0), (0.0, 1), (128.0 / 255.0, 2)].map { value, c in
            (value - config.mean[c]) / config.std[c]
        }
        for c in 0..<3 {
            for i in 0..<16 {
                XCTAssertEqual(output[c * 16 + i], expected[c], accuracy: Tolerance.float32Operations, "channel \(c)")
            }
        }
    }

    func testConfigDecodesWithDefaultsAndRejectsBadValues() throws {
        let decoded = try JSONDecoder().decode(ImagePreprocessingConfig.self, from: Data(#"{"mode": "pad"}"#.utf8))
        XCTAssertEqual(decoded, .llava15(mode: .padToSquare))
        var bad = ImagePreprocessingConfig.llava15()
        bad.std = [0.2, 0, 0.3]
        XCTAssertThrowsError(try ImagePreprocessor(config: bad)) { XCTAssertTrue("\($0)".contains("std"), "\($0)") }
        bad = .llava15()
        bad.shortestEdge = 0
        XCTAssertThrowsError(try ImagePreprocessor(config: bad)) { XCTAssertTrue("\($0)".contains("shortestEdge"), "\($0)") }
    }
}
