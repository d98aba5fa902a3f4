import Evaluation
import Formats
import Foundation
import Images
import Kernels
import ModelFactory
import ModelFiles
import Models
import Synthetic
import TestSupport
import XCTest

/// `discern init-model --preset tiny-qwen2vl`: the byte-level tokenizer built for the synthetic
/// vocabulary and the tiny Qwen2-VL (Tests/Reference/check_init_qwen2vl.py checks both against
/// transformers).
final class InitQwen2VLTests: XCTestCase {
    static let fixture = InitModelTests.fixtures.appendingPathComponent("python_ids_qwen2vl.json")

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-initq-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testEverySyntheticWordIsOneTokenWithOrWithoutItsSpace() throws {
        let tokenizer = try ByteLevelTokenizerBuilder(words: SyntheticVocabulary.words).build().tokenizer
        for text in try InitModelTests.syntheticTexts() {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            // One piece per word, one per punctuation mark; the first word is bare.
            let marks = text.filter { $0 == "," || $0 == "." }.count
            XCTAssertEqual(ids.count, text.split(separator: " ").count + marks, "'\(text)'")
            XCTAssertEqual(tokenizer.decode(ids), text)
        }
    }

    func testSpecialTokensFollowTheVocabularyAndTheConfigNamesThem() throws {
        let built = try ByteLevelTokenizerBuilder(words: SyntheticVocabulary.words).build()
        let tokenizer = built.tokenizer, first = built.tokenCount - ByteLevelTokenizerBuilder.specialTokens.count
        for (offset, token) in ByteLevelTokenizerBuilder.specialTokens.enumerated() {
            XCTAssertEqual(tokenizer.tokenID(for: token), Int32(first + offset), token)
        }
        XCTAssertEqual(tokenizer.vocabSize, built.tokenCount)
        XCTAssertNil(tokenizer.bosTokenID, "Qwen2's post-processor adds no BOS")
        let prompt = "<|vision_start|><|image_pad|><|vision_end|>\nSummary above image in one word:"
        XCTAssertEqual(tokenizer.encode(prompt).map { tokenizer.piece(for: $0)! },
                       ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "Ċ", "Summary", "Ġabove", "Ġimage", "Ġin", "Ġone", "Ġword", ":"])
        XCTAssertEqual(tokenizer.encode("zebra", addSpecialTokens: false).count, 5, "a word outside the vocabulary is spelled in bytes")

        let directory = try temporaryDirectory().path
        _ = try writeInitialQwen2VLModel(preset: .tiny, directory: directory, words: SyntheticVocabulary.words, seed: 1, force: false)
        guard case .qwen2VL(let config, let images) = try ModelDirectory(path: directory).family else { return XCTFail("not a Qwen2-VL directory") }
        for (token, id) in [("<|image_pad|>", config.imageTokenID), ("<|video_pad|>", config.videoTokenID),
                            ("<|vision_start|>", config.visionStartTokenID), ("<|vision_end|>", config.visionEndTokenID),
                            ("<|endoftext|>", config.text.eosTokenId)] {
            XCTAssertEqual(built.specialIDs[token], id, token)
        }
        XCTAssertGreaterThanOrEqual(config.text.vocabSize, built.tokenCount)
        XCTAssertEqual(config.mropeSection.reduce(0, +), config.text.headDim / 2)
        XCTAssertEqual([images.patchSize, images.mergeSize, images.temporalPatchSize], [4, 2, 2])
        let resized = try smartResize(width: 32, height: 32, factor: images.factor, minPixels: images.minPixels, maxPixels: images.maxPixels, source: "test")
        XCTAssertTrue(resized == (32, 32), "the demo's 32 x 32 images keep their size, not \(resized)")
    }

    /// "or" of "orange" inside "color" would cut it if its chain ranked first.
    func testBareChainsAreOrderedSoNoneCutsAnother() throws {
        XCTAssertEqual(try ByteLevelTokenizerBuilder.bareChainOrder(["or", "color", "a"]), ["color", "or", "a"])
        let tokenizer = try ByteLevelTokenizerBuilder(words: ["or", "color"]).build().tokenizer
        XCTAssertEqual(tokenizer.encode("color", addSpecialTokens: false).map { tokenizer.piece(for: $0)! }, ["color"])
        XCTAssertThrowsError(try ByteLevelTokenizerBuilder.bareChainOrder(["abcd", "bcab"])) { error in
            XCTAssertTrue("\(error)".contains("drop one of them"), "\(error)")
        }
        XCTAssertThrowsError(try ByteLevelTokenizerBuilder.bareChainOrder(["abab"])) { error in
            XCTAssertTrue("\(error)".contains("cut itself"), "\(error)")
        }
        XCTAssertThrowsError(try ByteLevelTokenizerBuilder(words: ["left-of"]).build()) { error in
            XCTAssertTrue("\(error)".contains("run of letters"), "\(error)")
        }
    }

    /// Ids that Python `tokenizers` gave for this tokenizer (Tests/Reference/check_init_qwen2vl.py
    /// --write-fixture); a mismatch after a vocabulary change means: rerun that script.
    func testTokenizerIDsMatchPythonTokenizers() throws {
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixture)) as! [String: Any]
        let built = try ByteLevelTokenizerBuilder(words: SyntheticVocabulary.words).build()
        XCTAssertEqual(built.json, fixture["tokenizer_json"] as? String,
                       "the built tokenizer.json changed; rerun Tests/Reference/check_init_qwen2vl.py --write-fixture (see its docstring)")
        let texts = fixture["texts"] as! [String], ids = fixture["ids"] as! [[Int]]
        XCTAssertGreaterThan(texts.count, 20)
        for (text, expected) in zip(texts, ids) { XCTAssertEqual(built.tokenizer.encode(text).map(Int.init), expected, text) }
    }

    /// The sample std of n normal draws is within ~4/sqrt(2n) of the true std with overwhelming
    /// probability; 10% is far looser even for the 96 values of a vision bias.
    static let stdTolerance = 0.1

    func testWritesDeterministicWeightsThatLoadAndEmbed() throws {
        let root = try temporaryDirectory()
        let a = root.appendingPathComponent("a").path, b = root.appendingPathComponent("b").path
        let summary = try writeInitialQwen2VLModel(preset: .tiny, directory: a, words: SyntheticVocabulary.words, seed: 5, force: false)
        _ = try writeInitialQwen2VLModel(preset: .tiny, directory: b, words: SyntheticVocabulary.words, seed: 5, force: false)
        for file in ["config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/" + file)), try Data(contentsOf: URL(fileURLWithPath: b + "/" + file)), file)
        }
        XCTAssertThrowsError(try writeInitialQwen2VLModel(preset: .tiny, directory: a, words: SyntheticVocabulary.words, seed: 6, force: false))
        XCTAssertTrue(summary.lines(seed: 5).joined().contains("Qwen2 160 wide, 4 layers"), "\(summary.lines(seed: 5))")

        let weights = try SafetensorsFile(path: a + "/model.safetensors")
        func std(_ name: String) throws -> Double {
            let values = try weights.floats(name).map(Double.init), mean = values.reduce(0, +) / Double(values.count)
            return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias", "visual.blocks.0.attn.qkv.weight",
                     "visual.patch_embed.proj.weight", "visual.merger.mlp.0.bias", "model.embed_tokens.weight"] {
            XCTAssertEqual(try std(name), 0.02, accuracy: 0.02 * Self.stdTolerance, name)
        }
        for name in ["model.norm.weight", "visual.blocks.2.norm1.weight", "visual.merger.ln_q.weight"] {
            XCTAssertEqual(Set(try weights.floats(name)), [1], name)
        }
        XCTAssertFalse(weights.names.contains("lm_head.weight"), "the head is tied")

        let embedder = try Embedder(directory: try ModelDirectory(path: a))
        let samples = try SyntheticDataset(seed: 1).evalSamples(count: 2)
        let images = try embedder.embedImages(samples.map { RGBImage(width: 32, height: 32, pixels: $0.image) })
        let texts = try embedder.embedTexts(samples.map { $0.short! })
        let width = embedder.width
        XCTAssertNotEqual(Array(images[0..<width]), Array(images[width...]), "two different images give different embeddings")
        XCTAssertNotEqual(Array(texts[0..<width]), Array(texts[width...]))
    }

    /// With DISCERN_INIT_MODEL_CHECK=<folder>, writes a tiny Qwen2-VL, PNG images and Discern's
    /// token ids and embeddings under <folder>/qwen2vl for Tests/Reference/check_init_qwen2vl.py.
    func testWritesInputsForThePythonCheck() throws {
        guard let root = ProcessInfo.processInfo.environment["DISCERN_INIT_MODEL_CHECK"] else {
            throw XCTSkip("set DISCERN_INIT_MODEL_CHECK=<folder> to write the inputs of Tests/Reference/check_init_qwen2vl.py")
        }
        let folder = root + "/qwen2vl"
        _ = try writeInitialQwen2VLModel(preset: .tiny, directory: folder + "/model", words: SyntheticVocabulary.words, seed: 7, force: true)
        let directory = try ModelDirectory(path: folder + "/model")
        let tokenizer = try directory.tokenizer()
        let texts = Array(try InitModelTests.syntheticTexts().prefix(60)) + [
            "<|vision_start|><|image_pad|><|vision_end|>\nSummary above image in one word:",
            "a red circle left of a blue square\nSummary above sentence in one word:",
            "<|im_start|>user\nzebra, 42!<|im_end|>", "Ünïcode café 🎨 too", "  two  spaces \n\n end "]
        let samples = try SyntheticDataset(seed: 1).evalSamples(count: 3)
        // The synthetic 32 x 32 images, and two sizes that smart_resize changes (40 x 20 -> 40 x 16, 21 x 52 -> 24 x 48).
        var images = samples.map { RGBImage(width: 32, height: 32, pixels: $0.image) }
        var random = Xoshiro256(seed: 3)
        for (width, height) in [(40, 20), (21, 52)] {
            images.append(RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: random.next()) }))
        }
        var files: [String] = []
        for (index, image) in images.enumerated() {
            files.append("image-\(index).png")
            try writePNG(image, to: folder + "/" + files[index])
        }
        let captions = samples.map { $0.short! } + ["two shapes", "Ünïcode café 🎨 too"]
        let embedder = try Embedder(directory: directory, batchSize: 2)
        let output: [String: Any] = [
            "texts": texts, "ids": texts.map { tokenizer.encode($0).map(Int.init) }, "images": files, "captions": captions,
            "image_embeddings": try embedder.embedImages(images).map(Double.init),
            "text_embeddings": try embedder.embedTexts(captions).map(Double.init),
        ]
        try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]).write(to: URL(fileURLWithPath: folder + "/discern.json"))
    }
}
