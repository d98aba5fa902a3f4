import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models
import Objectives
import TestSupport
import XCTest

/// Discern's LLaVA against transformers + PEFT on the two tiny models of
/// Tests/Reference/make_model_fixtures.py (float64 fixtures).
final class TransformersParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Issue targets for the Float run: embeddings max abs 1e-5, logits and losses relative 1e-5,
    /// gradients relative 1e-3 of their largest element (Float32 arithmetic through ~10 layers
    /// against float64; measured errors are about 10x smaller).
    static let floatEmbeddingAbs = 1e-5, floatRelative = 1e-5, floatGradient = 1e-3
    /// The Double run differs from float64 torch only by summation order: ~1e-13.
    static let doubleEmbeddingAbs = 1e-10, doubleRelative = 1e-10, doubleGradient = 1e-8

    struct Fixture {
        let directory: ModelDirectory
        let tensors: SafetensorsFile
        let captions: [String]
        let longCaptions: [String]
        let loraRank: Int
        let loraAlpha: Double

        init(_ name: String) throws {
            let url = TransformersParityTests.fixtures.appendingPathComponent(name)
            directory = try ModelDirectory(path: url.path)
            tensors = try SafetensorsFile(path: url.appendingPathComponent("fixtures.safetensors").path)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: url.appendingPathComponent("fixtures.json"))) as! [String: Any]
            captions = meta["captions"] as! [String]
            longCaptions = meta["long_captions"] as! [String]
            let lora = meta["lora"] as! [String: Any]
            loraRank = lora["r"] as! Int
            loraAlpha = (lora["alpha"] as! NSNumber).doubleValue
        }

        func doubles(_ name: String) throws -> [Double] { try tensors.float64s(name) }
        func ints(_ name: String) throws -> (values: [Int32], shape: [Int]) { try tensors.int64s(name) }
    }

    func prompts(_ fixture: Fixture, imageTokens: Int) throws -> PromptBuilder {
        let config = fixture.directory.llava!
        return try PromptBuilder(encoder: try fixture.directory.tokenizer(), templates: PromptTemplates(),
                                 imageTokenID: config.imageTokenIndex, eosTokenID: config.text.eosTokenId,
                                 imageTokens: imageTokens, maxPositions: config.text.maxPositionEmbeddings)
    }

    /// Token ids Discern builds equal those the twin fed transformers (left padding included).
    func checkTokenIDs(_ sequences: SequenceBatch, _ expected: (values: [Int32], shape: [Int]), imageTokenID: Int, _ what: String) {
        XCTAssertEqual([sequences.batch, sequences.sequence], expected.shape, "\(what) shape")
        guard [sequences.batch, sequences.sequence] == expected.shape else { return }
        for r in 0..<sequences.rows where sequences.keyMask[r] == 1 {
            let id: Int32 = sequences.kinds[r] == .image ? Int32(imageTokenID) : sequences.slots[r]
            if sequences.kinds[r] == .token || sequences.kinds[r] == .image {
                XCTAssertEqual(id, expected.values[r], "\(what): token at row \(r)")
            }
        }
    }

    func runBase<T: KernelScalar>(_ name: String, _: T.Type, embeddingAbs: Double, relative: Double) throws {
        let fixture = try Fixture(name)
        let model: VisionLanguageModel<T> = try fixture.directory.loadModel()
        let prompts = try prompts(fixture, imageTokens: model.imageTokens)
        let pixels = try fixture.doubles("pixels").map { T($0) }
        let images = fixture.captions.count, width = model.hidden

        let imageSequences = SequenceBatch(items: try (0..<images).map { try prompts.imageItem(imageIndex: $0, softPrompt: false).item })
        checkTokenIDs(imageSequences, try fixture.ints("image_ids"), imageTokenID: model.config.imageTokenID, "\(name) image ids")
        let pass = VisionLanguageModel<T>.Pass(), pooling = EmbeddingPooling<T>()
        var hidden = pixels.withUnsafeBufferPointer { model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: images), sequences: imageSequences, pass: pass) }
        let imageEmbeddings = Array(UnsafeBufferPointer(start: pooling.forward(hidden, sequences: imageSequences, width: width), count: images * width))
        assertMaxAbs(imageEmbeddings, try fixture.doubles("base.image_embeddings"), embeddingAbs, "\(name) base image embeddings")

        let textSequences = SequenceBatch(items: try fixture.captions.map { try prompts.textItem(caption: $0, softPrompt: false) })
        checkTokenIDs(textSequences, try fixture.ints("text_ids"), imageTokenID: model.config.imageTokenID, "\(name) text ids")
        hidden = model.forward(images: nil, sequences: textSequences, pass: pass)
        let textEmbeddings = Array(UnsafeBufferPointer(start: pooling.forward(hidden, sequences: textSequences, width: width), count: images * width))
        assertMaxAbs(textEmbeddings, try fixture.doubles("base.text_embeddings"), embeddingAbs, "\(name) base text embeddings")

        // Logits at every real position.
        try checkLogits(model, hidden: hidden, sequences: textSequences, expected: fixture.doubles("base.text_logits"),
                        relative: relative, "\(name) base text logits")
    }

    func testBaseModelsMatchTransformersInDouble() throws {
        for name in ["gqa", "mha"] { try runBase(name, Double.self, embeddingAbs: Self.doubleEmbeddingAbs, relative: Self.doubleRelative) }
    }

    func testBaseModelsMatchTransformersInFloat() throws {
        for name in ["gqa", "mha"] { try runBase(name, Float.self, embeddingAbs: Self.floatEmbeddingAbs, relative: Self.floatRelative) }
    }
}

/// Fails when any element differs from the reference by more than `tolerance`; prints the
/// measured error so the test log records it.
func assertMaxAbs<T: KernelScalar>(_ actual: [T], _ expected: [Double], _ tolerance: Double, _ what: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    let error = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
    XCTAssertLessThanOrEqual(error, tolerance, "\(what): max abs error \(error)", file: file, line: line)
    print("parity: \(what): max abs error \(error)")
}

/// The output head's logits at every real row of `sequences` against the twin's (batch,
/// sequence, vocab) values.
func checkLogits<T: KernelScalar>(_ model: VisionLanguageModel<T>, hidden: UnsafePointer<T>, sequences: SequenceBatch,
                                  expected: [Double], relative: Double, _ what: String) {
    let vocab = model.config.vocabularySize
    let logits = Buffer<T>(count: sequences.rows * vocab)
    model.language.lmHead.forward(hidden, rows: sequences.rows, into: logits.pointer, tape: nil)
    var actual: [T] = [], reference: [T] = []
    for r in 0..<sequences.rows where sequences.keyMask[r] == 1 {
        actual += UnsafeBufferPointer(start: logits.pointer + r * vocab, count: vocab)
        reference += expected[r * vocab..<(r + 1) * vocab].map { T($0) }
    }
    assertClose(actual, reference, tolerance: relative, what)
}
