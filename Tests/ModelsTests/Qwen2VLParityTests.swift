import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models
import Objectives
import TestSupport
import XCTest

/// Discern's Qwen2-VL against transformers' Qwen2VLForConditionalGeneration (+ PEFT) on the two
/// tiny models of Tests/Reference/make_qwen2vl_fixtures.py: the vision tower on a batch mixing
/// image sizes, M-RoPE positions, base embeddings and logits, and the adapted model's losses
/// and gradients. Tolerances are LLaVA's (TransformersParityTests).
final class Qwen2VLParityTests: XCTestCase {
    static let models = ["qwen2vl-a", "qwen2vl-b"]

    func array<T>(_ p: UnsafeMutablePointer<T>, _ n: Int) -> [T] { Array(UnsafeBufferPointer(start: p, count: n)) }

    /// The encoder's features for `images`, copied out before the tape that owns them goes.
    func encoderFeatures<T>(_ model: VisionLanguageModel<T>, _ images: ImageBatch<T>) -> [T] {
        let tape = model.vision.makeTape()
        let rows = images.grids.reduce(0) { $0 + model.vision.tokens(grid: $1) }
        return withExtendedLifetime(tape) { array(model.vision.forward(images, tape: tape), rows * model.hidden) }
    }

    func runVision<T: KernelScalar>(_ name: String, _: T.Type, tolerance: Double) throws {
        let fixture = try Qwen2VLFixture(name)
        let model: VisionLanguageModel<T> = try fixture.model()
        let (pixels, grids) = try fixture.images(T.self)
        let tokens = grids.map { model.vision.tokens(grid: $0) }, width = model.hidden
        let features = pixels.withUnsafeBufferPointer { encoderFeatures(model, ImageBatch(pixels: $0.baseAddress!, count: grids.count, grids: grids)) }
        assertMaxAbs(features, try fixture.doubles("vision.image_features"), tolerance, "\(name) \(T.self) vision features (mixed sizes)")
        // Each image alone matches transformers on it alone, and its slice of the batch.
        var row = 0, patchRow = 0
        let patchLength = fixture.config.vision.patchLength
        for (i, grid) in grids.enumerated() {
            let patches = grid.rows * grid.columns
            let alone = pixels.withUnsafeBufferPointer { encoderFeatures(model, ImageBatch(pixels: $0.baseAddress! + patchRow * patchLength, count: 1, grids: [grid])) }
            assertMaxAbs(alone, try fixture.doubles("vision.single.\(i).image_features"), tolerance, "\(name) \(T.self) image \(i) alone")
            // Alone and in the batch agree to rounding (the GEMMs see other row counts, so BLAS may
            // block them differently); testImagesOfABatchDoNotSeeEachOther holds the exact claim.
            assertMaxAbs(alone, Array(features[row * width..<(row + tokens[i]) * width]).map { Double($0) }, tolerance,
                         "\(name) \(T.self) image \(i) alone vs in the batch")
            row += tokens[i]
            patchRow += patches
        }
    }

    func testVisionTowerMatchesTransformers() throws {
        for name in Self.models {
            try runVision(name, Double.self, tolerance: TransformersParityTests.doubleEmbeddingAbs)
            try runVision(name, Float.self, tolerance: TransformersParityTests.floatEmbeddingAbs)
        }
    }

    /// Changing one image leaves the other images' features bit-identical (attention stays
    /// within each image).
    func testImagesOfABatchDoNotSeeEachOther() throws {
        let fixture = try Qwen2VLFixture("qwen2vl-b")
        let model: VisionLanguageModel<Float> = try fixture.model()
        var (pixels, grids) = try fixture.images(Float.self)
        let tokens = grids.map { model.vision.tokens(grid: $0) }, width = model.hidden
        func run() -> [Float] { pixels.withUnsafeBufferPointer { encoderFeatures(model, ImageBatch(pixels: $0.baseAddress!, count: grids.count, grids: grids)) } }
        let before = run()
        let first = grids[0].rows * grids[0].columns * fixture.config.vision.patchLength
        let second = grids[1].rows * grids[1].columns * fixture.config.vision.patchLength
        for i in first..<first + second { pixels[i] = -pixels[i] + 0.25 }   // image 1 only
        let after = run()
        let a = tokens[0] * width, b = (tokens[0] + tokens[1]) * width
        XCTAssertEqual(Array(after[..<a]), Array(before[..<a]), "image 0 changed when image 1 did")
        XCTAssertEqual(Array(after[b...]), Array(before[b...]), "image 2 changed when image 1 did")
        XCTAssertNotEqual(Array(after[a..<b]), Array(before[a..<b]))
    }

    func testPositionsMatchGetRopeIndex() throws {
        for name in Self.models {
            let fixture = try Qwen2VLFixture(name)
            let model: VisionLanguageModel<Float> = try fixture.model()
            let grids = try fixture.images(Float.self).grids.map { model.vision.tokenGrid($0)! }
            let offsets = grids.reduce(into: [0]) { $0.append($0.last! + $1.rows * $1.columns) }
            for prefix in ["image", "text", "ntp"] {
                let sequences = try fixture.sequences(prefix)
                let expected = try fixture.tensors.int64s(prefix + "_position_ids").values
                var positions = [Int32](repeating: -1, count: 3 * sequences.rows)
                positions.withUnsafeMutableBufferPointer {
                    multimodalPositions(sequences, imageOffsets: offsets, tokenGrids: grids, into: $0.baseAddress!)
                }
                for stream in 0..<3 {
                    for r in 0..<sequences.rows where sequences.keyMask[r] == 1 {
                        XCTAssertEqual(positions[stream * sequences.rows + r], expected[stream * sequences.rows + r], "\(name) \(prefix) stream \(stream) row \(r)")
                    }
                }
            }
        }
    }

    func runBase<T: KernelScalar>(_ name: String, _: T.Type, embeddingAbs: Double, relative: Double) throws {
        let fixture = try Qwen2VLFixture(name)
        let model: VisionLanguageModel<T> = try fixture.model()
        let (pixels, grids) = try fixture.images(T.self)
        let width = model.hidden, pass = VisionLanguageModel<T>.Pass(), pooling = EmbeddingPooling<T>()
        let imageSequences = try fixture.sequences("image")
        var hidden = pixels.withUnsafeBufferPointer {
            model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: grids.count, grids: grids), sequences: imageSequences, pass: pass)
        }
        assertMaxAbs(array(pooling.forward(hidden, sequences: imageSequences, width: width), imageSequences.batch * width),
                     try fixture.doubles("base.image_embeddings"), embeddingAbs, "\(name) \(T.self) base image embeddings")
        let textSequences = try fixture.sequences("text")
        hidden = model.forward(images: nil, sequences: textSequences, pass: pass)
        assertMaxAbs(array(pooling.forward(hidden, sequences: textSequences, width: width), textSequences.batch * width),
                     try fixture.doubles("base.text_embeddings"), embeddingAbs, "\(name) \(T.self) base text embeddings")
        try checkLogits(model, hidden: hidden, sequences: textSequences, expected: fixture.doubles("base.text_logits"),
                        relative: relative, "\(name) \(T.self) base text logits")
    }

    func testBaseModelsMatchTransformers() throws {
        for name in Self.models {
            try runBase(name, Double.self, embeddingAbs: TransformersParityTests.doubleEmbeddingAbs, relative: TransformersParityTests.doubleRelative)
            try runBase(name, Float.self, embeddingAbs: TransformersParityTests.floatEmbeddingAbs, relative: TransformersParityTests.floatRelative)
        }
    }

    static func runAdapted<T: KernelScalar>(_ name: String, _: T.Type, tolerances: (Double, Double, Double)) throws {
        try withAdaptedModel(name, T.self) { model, images, passes, doubles in
            try checkAdaptedModel(model, name: name, images: images, passes: passes, fixture: doubles, tolerances: tolerances)
        }
    }

    /// The fixture's adapted model loaded under `memory`, its images (mixed sizes) and passes.
    static func withAdaptedModel<T: KernelScalar>(_ name: String, _: T.Type, memory: ModelMemoryOptions = ModelMemoryOptions(),
                                                  _ body: (VisionLanguageModel<T>, ImageBatch<T>, AdaptedPasses, (String) throws -> [Double]) throws -> Void) throws {
        let fixture = try Qwen2VLFixture(name)
        let trainable = TrainableSet(lora: fixture.lora, imageSoftPromptLength: fixture.imageSuffixLength,
                                     textSoftPromptLength: fixture.textSuffixLength)
        let model: VisionLanguageModel<T> = try fixture.model(trainable: trainable, memory: memory)
        XCTAssertEqual(model.parameters.trainable.count, fixture.config.text.numHiddenLayers * 7 * 2 + 2,
                       "the default LoRA targets are the LLM's seven projections (none in the vision tower)")
        XCTAssertFalse(model.vision.needsBackward)
        let (pixels, grids) = try fixture.images(T.self)
        let passes = (try fixture.sequences("image", softPrompts: true), try fixture.sequences("text", softPrompts: true),
                      try fixture.sequences("ntp", softPrompts: true, targets: true))
        try pixels.withUnsafeBufferPointer { p in
            try body(model, ImageBatch(pixels: p.baseAddress!, count: grids.count, grids: grids), passes, fixture.doubles)
        }
    }

    func testAdaptersMatchPEFT() throws {
        for name in Self.models {
            try Self.runAdapted(name, Double.self, tolerances: (TransformersParityTests.doubleEmbeddingAbs, TransformersParityTests.doubleRelative,
                                                           TransformersParityTests.doubleGradient))
            try Self.runAdapted(name, Float.self, tolerances: (TransformersParityTests.floatEmbeddingAbs, TransformersParityTests.floatRelative,
                                                          TransformersParityTests.floatGradient))
        }
    }
}
