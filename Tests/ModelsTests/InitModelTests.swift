import Datasets
import Formats
import Foundation
import Kernels
import ModelFactory
import ModelFiles
import Models
import Synthetic
import TestSupport
import XCTest

/// `discern init-model`: the tokenizer built for the synthetic vocabulary and the tiny model.
final class InitModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/init-model")

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-init-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Every caption text the synthetic data can produce, over many scenes and both wordings, in a fixed
    /// order (hard negatives by type name: a dictionary's order changes from run to run).
    static func syntheticTexts() throws -> [String] {
        var texts: [String] = []
        for (seed, withSizes) in [(UInt64(1), false), (2, true)] {
            let data = try SyntheticDataset(seed: seed, options: SyntheticOptions(maxObjects: 4, sizesInShortCaption: withSizes))
            for example in try data.evalExamples(count: 150) + (0..<150).map(data.trainExample) {
                texts += [example.short.text, example.long] + example.negatives.sorted { $0.key.rawValue < $1.key.rawValue }.map(\.value.text)
            }
        }
        return texts
    }

    func testTokenizerEncodesEverySyntheticCaptionWithoutByteFallback() throws {
        let tokenizer = try TokenizerBuilder(words: SyntheticVocabulary.words).build().tokenizer
        let byteIDs: ClosedRange<Int32> = 3...258
        for text in try Self.syntheticTexts() {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            XCTAssertFalse(ids.contains { byteIDs.contains($0) }, "'\(text)' uses byte fallback: \(ids)")
            // One piece per word, one per punctuation mark.
            let marks = text.filter { $0 == "," || $0 == "." }.count
            XCTAssertEqual(ids.count, text.split(separator: " ").count + marks, "'\(text)'")
            XCTAssertEqual(tokenizer.decode(ids), text)
        }
    }

    func testPromptsTokenizeAsLlavaDoes() throws {
        let built = try TokenizerBuilder(words: SyntheticVocabulary.words).build()
        let tokenizer = built.tokenizer
        let pieces = tokenizer.encode("<image>\nSummary above image in one word:").map { tokenizer.piece(for: $0)! }
        XCTAssertEqual(pieces, ["<s>", "<image>", "▁", "<0x0A>", "Summary", "▁above", "▁image", "▁in", "▁one", "▁word", ":"])
        XCTAssertEqual(tokenizer.tokenID(for: "<image>"), Int32(built.imageTokenID))
        XCTAssertEqual(tokenizer.padTokenID, Int32(built.padTokenID))
        XCTAssertEqual(tokenizer.vocabSize, built.vocabularySize)
        XCTAssertEqual([tokenizer.unknownTokenID, tokenizer.bosTokenID, tokenizer.eosTokenID], [0, 1, 2])
        // A word outside the vocabulary still tokenises, into letters.
        XCTAssertEqual(tokenizer.encode("zebra", addSpecialTokens: false).map { tokenizer.piece(for: $0)! }, ["▁", "z", "e", "b", "r", "a"])
    }

    /// Ids that Python `tokenizers` gave for this tokenizer (Tests/Reference/check_init_model.py
    /// --write-fixture); a mismatch after a vocabulary change means: rerun that script.
    func testTokenizerIDsMatchPythonTokenizers() throws {
        let file = Self.fixtures.appendingPathComponent("python_ids.json")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        let built = try TokenizerBuilder(words: SyntheticVocabulary.words).build()
        XCTAssertEqual(built.json, fixture["tokenizer_json"] as? String,
                       "the built tokenizer.json changed; rerun Tests/Reference/check_init_model.py --write-fixture (see its docstring)")
        let texts = fixture["texts"] as! [String], ids = fixture["ids"] as! [[Int]]
        XCTAssertGreaterThan(texts.count, 20)
        for (text, expected) in zip(texts, ids) {
            XCTAssertEqual(built.tokenizer.encode(text).map(Int.init), expected, text)
        }
    }

    func testInitModelLoadsAndRunsAForward() throws {
        let directory = try temporaryDirectory().path
        let summary = try writeInitialModel(preset: .tiny, directory: directory, words: SyntheticVocabulary.words,
                                            imageSize: 32, seed: 3, force: false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + ".tmp"))
        let model = try ModelDirectory(path: directory)
        let llava: VisionLanguageModel<Float> = try model.loadModel()
        XCTAssertEqual(summary.parameters.total, llava.parameters.parameters.reduce(0) { $0 + $1.count })
        XCTAssertEqual(llava.imageTokens, 16)
        let embeddings = try Self.embeddings(llava, tokenizer: try model.tokenizer(), samples: try SyntheticDataset(seed: 1).evalSamples(count: 2))
        XCTAssertTrue(embeddings.images.allSatisfy(\.isFinite) && embeddings.texts.allSatisfy(\.isFinite))
        let width = llava.hidden
        XCTAssertNotEqual(Array(embeddings.images[0..<width]), Array(embeddings.images[width..<(2 * width)]),
                          "two different images give different embeddings")
        XCTAssertNotEqual(Array(embeddings.texts[0..<width]), Array(embeddings.texts[width..<(2 * width)]))
    }

    /// The final hidden states at the summary position of `samples`' images and short captions
    /// (E5-V prompts, no soft prompts). Pixels: CLIP-normalised, channels first.
    static func embeddings(_ model: VisionLanguageModel<Float>, tokenizer: Tokenizer, samples: [Sample]) throws -> (images: [Float], texts: [Float], pixels: [Float]) {
        let config = model.config
        let prompts = try PromptBuilder(encoder: tokenizer, templates: PromptTemplates(), imageTokenID: config.imageTokenID,
                                        eosTokenID: config.eosTokenID, imageTokens: model.imageTokens,
                                        maxPositions: config.maxPositions)
        let side = config.fixedImageSize!
        let mean: [Float] = [0.48145466, 0.4578275, 0.40821073], std: [Float] = [0.26862954, 0.26130258, 0.27577711]
        var pixels = [Float](repeating: 0, count: samples.count * 3 * side * side)
        for (n, sample) in samples.enumerated() {
            for c in 0..<3 { for p in 0..<(side * side) {
                pixels[(n * 3 + c) * side * side + p] = (Float(sample.image[p * 3 + c]) / 255 - mean[c]) / std[c]
            } }
        }
        let pass = VisionLanguageModel<Float>.Pass(), width = model.hidden
        func pooled(_ hidden: UnsafeMutablePointer<Float>, _ sequences: SequenceBatch) -> [Float] {
            sequences.poolRows.flatMap { Array(UnsafeBufferPointer(start: hidden + $0 * width, count: width)) }
        }
        let imageSequences = SequenceBatch(items: try samples.indices.map { try prompts.imageItem(imageIndex: $0, softPrompt: false).item })
        let images = pixels.withUnsafeBufferPointer {
            pooled(model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: samples.count), sequences: imageSequences, pass: pass), imageSequences)
        }
        let textSequences = SequenceBatch(items: try samples.map { try prompts.textItem(caption: $0.short!, softPrompt: false) })
        let texts = pooled(model.forward(images: nil, sequences: textSequences, pass: pass), textSequences)
        return (images, texts, pixels)
    }

    func testOutputIsDeterministicAndNeverOverwrittenByAccident() throws {
        let root = try temporaryDirectory()
        let a = root.appendingPathComponent("a").path, b = root.appendingPathComponent("b").path
        _ = try writeInitialModel(preset: .tiny, directory: a, words: SyntheticVocabulary.words, imageSize: 32, seed: 5, force: false)
        _ = try writeInitialModel(preset: .tiny, directory: b, words: SyntheticVocabulary.words, imageSize: 32, seed: 5, force: false)
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/" + file)), try Data(contentsOf: URL(fileURLWithPath: b + "/" + file)), file)
        }
        XCTAssertThrowsError(try writeInitialModel(preset: .tiny, directory: a, words: SyntheticVocabulary.words, imageSize: 32, seed: 6, force: false)) { error in
            XCTAssertTrue("\(error)".contains("--force"), "\(error)")
        }
        _ = try writeInitialModel(preset: .tiny, directory: a, words: SyntheticVocabulary.words, imageSize: 48, seed: 6, force: true)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/model.safetensors")), try Data(contentsOf: URL(fileURLWithPath: b + "/model.safetensors")))
        XCTAssertEqual(try ModelDirectory(path: a).llava!.vision.imageSize, 48)
        XCTAssertThrowsError(try writeInitialModel(preset: .tiny, directory: root.appendingPathComponent("c").path,
                                                   words: SyntheticVocabulary.words, imageSize: 30, seed: 0, force: false)) { error in
            XCTAssertTrue("\(error)".contains("multiple of the patch size"), "\(error)")
        }
        XCTAssertThrowsError(try InitModelPreset.named("huge")) { error in
            XCTAssertTrue("\(error)".contains("'tiny' and 'tiny-qwen2vl'"), "\(error)")
        }
    }

    /// Initial weights have the Hugging Face statistics. The sample std of n normal draws is
    /// within ~4/sqrt(2n) of the true std with overwhelming probability; 5% is far looser.
    static let stdTolerance = 0.05

    func testInitialWeightsFollowTheHuggingFaceScheme() throws {
        let directory = try temporaryDirectory().path
        let summary = try writeInitialModel(preset: .tiny, directory: directory, words: SyntheticVocabulary.words, imageSize: 32, seed: 1, force: false)
        let config = summary.llava!
        func std(_ name: String) -> Double {
            let shape = config.modelDescription.tensors.first { $0.name == name }!.shape
            let values = initialWeight(name: name, shape: shape, config: config, padTokenID: config.text.padTokenId, seed: 1).map(Double.init)
            let mean = values.reduce(0, +) / Double(values.count)
            return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        let d = Double(config.vision.hiddenSize), layers = Double(config.vision.numHiddenLayers)
        let expected: [(String, Double)] = [
            ("language_model.model.layers.0.self_attn.q_proj.weight", 0.02),
            ("language_model.lm_head.weight", 0.02),
            ("multi_modal_projector.linear_1.weight", 0.02),
            ("vision_tower.vision_model.encoder.layers.0.self_attn.k_proj.weight", 1 / d.squareRoot() / (2 * layers).squareRoot()),
            ("vision_tower.vision_model.encoder.layers.1.self_attn.out_proj.weight", 1 / d.squareRoot()),
            ("vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight", 1 / (2 * d).squareRoot()),
            ("vision_tower.vision_model.embeddings.position_embedding.weight", 0.02),
        ]
        for (name, value) in expected { XCTAssertEqual(std(name), value, accuracy: value * Self.stdTolerance, name) }
        let weights = try SafetensorsFile(path: directory + "/model.safetensors")
        XCTAssertEqual(Set(try weights.floats("vision_tower.vision_model.pre_layrnorm.weight")), [1])
        XCTAssertEqual(Set(try weights.floats("language_model.model.norm.weight")), [1])
        XCTAssertEqual(Set(try weights.floats("multi_modal_projector.linear_2.bias")), [0])
        let embed = try weights.floats("language_model.model.embed_tokens.weight"), pad = config.text.padTokenId!, width = config.text.hiddenSize
        XCTAssertEqual(Set(embed[(pad * width)..<((pad + 1) * width)]), [0], "the pad row starts at zero, as nn.Embedding(padding_idx:) does")
        XCTAssertEqual(config.text.vocabSize, try ModelDirectory(path: directory).tokenizer().vocabSize)
    }

    /// With DISCERN_INIT_MODEL_CHECK=<folder>, writes a tiny model and Discern's token ids and
    /// summary hidden states there for Tests/Reference/check_init_model.py to compare.
    func testWritesInputsForThePythonCheck() throws {
        guard let folder = ProcessInfo.processInfo.environment["DISCERN_INIT_MODEL_CHECK"] else {
            throw XCTSkip("set DISCERN_INIT_MODEL_CHECK=<folder> to write the inputs of Tests/Reference/check_init_model.py")
        }
        let directory = folder + "/model"
        _ = try writeInitialModel(preset: .tiny, directory: directory, words: SyntheticVocabulary.words, imageSize: 32, seed: 7, force: true)
        let model = try ModelDirectory(path: directory)
        let tokenizer = try model.tokenizer()
        let texts = Array(try Self.syntheticTexts().prefix(60)) + ["<image>\nSummary above image in one word:",
                                                              "a red circle left of a blue square\nSummary above sentence in one word:",
                                                              "USER: <image>\nSummary above image in one word: ASSISTANT:", "zebra, 42!"]
        let samples = try SyntheticDataset(seed: 1).evalSamples(count: 3)
        let embeddings = try Self.embeddings(try model.loadModel(), tokenizer: tokenizer, samples: samples)
        let output: [String: Any] = [
            "texts": texts, "ids": texts.map { tokenizer.encode($0).map(Int.init) },
            "captions": samples.map { $0.short! }, "pixels": embeddings.pixels.map(Double.init),
            "image_hidden": embeddings.images.map(Double.init), "text_hidden": embeddings.texts.map(Double.init),
        ]
        try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]).write(to: URL(fileURLWithPath: folder + "/discern.json"))
    }
}
