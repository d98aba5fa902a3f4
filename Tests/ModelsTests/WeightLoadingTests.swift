import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models
import XCTest

/// Strict loading: all three key layouts, 16-bit storage, sharded files, and clear errors.
final class WeightLoadingTests: XCTestCase {
    static let source = TransformersParityTests.fixtures.appendingPathComponent("gqa")
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("discern-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for file in ["config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(at: Self.source.appendingPathComponent(file), to: directory.appendingPathComponent(file))
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// Rewrites the fixture's weights with renamed keys / another dtype, optionally dropping or adding tensors.
    func writeWeights(rename: (String) -> String = { $0 }, dtype: SafetensorsDType = .F32, drop: String? = nil,
                      extra: (String, [Int])? = nil, reshape: String? = nil, file: String = "model.safetensors") throws -> SafetensorsFile {
        let original = try SafetensorsFile(path: Self.source.appendingPathComponent("model.safetensors").path)
        var writer = SafetensorsWriter()
        for name in original.names where name != drop {
            var shape = try original.info(name).shape
            var values = try original.floats(name)
            if name == reshape { shape = [values.count]; values = Array(values) }
            try writer.add(rename(name), shape: shape, floats: values, as: dtype)
        }
        if let (name, shape) = extra { try writer.add(name, shape: shape, floats: [Float](repeating: 0, count: shape.reduce(1, *))) }
        try writer.write(to: directory.appendingPathComponent(file).path)
        return original
    }

    func load() throws -> VisionLanguageModel<Float> { try ModelDirectory(path: directory.path).loadModel() }

    func testNewerRuntimeLayoutLoadsToTheSameValues() throws {
        let original = try writeWeights(rename: { name in
            if name.hasPrefix("language_model.model.") { return "model.language_model." + name.dropFirst("language_model.model.".count) }
            if name == "language_model.lm_head.weight" { return "lm_head.weight" }
            if name.hasPrefix("vision_tower.vision_model.") { return "model.vision_tower." + name.dropFirst("vision_tower.vision_model.".count) }
            return "model." + name
        })
        let model = try load()
        for name in original.names {
            let parameter = model.parameters[name]
            XCTAssertEqual(Array(UnsafeBufferPointer(start: parameter.value, count: parameter.count)), try original.floats(name), name)
        }
    }

    func testFloat16AndBFloat16StorageWidenOnLoad() throws {
        for dtype in [SafetensorsDType.F16, .BF16] {
            let original = try writeWeights(dtype: dtype)
            let model = try load()
            let name = "language_model.model.layers.0.mlp.down_proj.weight"
            let expected = try original.floats(name), parameter = model.parameters[name]
            let relative: Float = dtype == .F16 ? 1e-3 : 8e-3   // half an ulp of each format
            for i in 0..<parameter.count {
                XCTAssertEqual(parameter.value[i], expected[i], accuracy: abs(expected[i]) * relative + 1e-6, "\(dtype) \(name)[\(i)]")
            }
        }
    }

    func testShardedWeightsLoad() throws {
        let original = try SafetensorsFile(path: Self.source.appendingPathComponent("model.safetensors").path)
        var first = SafetensorsWriter(), second = SafetensorsWriter()
        var map: [String: String] = [:]
        for (i, name) in original.names.enumerated() {
            let shard = i % 2 == 0 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"
            try (i % 2 == 0 ? { try first.add(name, shape: try original.info(name).shape, floats: try original.floats(name)) }
                            : { try second.add(name, shape: try original.info(name).shape, floats: try original.floats(name)) })()
            map[name] = shard
        }
        try first.write(to: directory.appendingPathComponent("model-00001-of-00002.safetensors").path)
        try second.write(to: directory.appendingPathComponent("model-00002-of-00002.safetensors").path)
        let index = try JSONSerialization.data(withJSONObject: ["metadata": [String: String](), "weight_map": map])
        try index.write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        let model = try load()
        let name = "multi_modal_projector.linear_2.bias"
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.parameters[name].value, count: model.parameters[name].count)), try original.floats(name))
    }

    func testMissingUnexpectedAndMisshapedTensorsAreListed() throws {
        _ = try writeWeights(drop: "language_model.model.norm.weight", extra: ("vision_tower.vision_model.encoder.layers.9.mlp.fc1.weight", [2, 2]),
                             reshape: "multi_modal_projector.linear_1.weight")
        XCTAssertThrowsError(try load()) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("model.safetensors: the weights do not match config.json"), message)
            XCTAssertTrue(message.contains("missing tensors (1):\n    language_model.model.norm.weight"), message)
            XCTAssertTrue(message.contains("unexpected tensors (1):\n    vision_tower.vision_model.encoder.layers.9.mlp.fc1.weight"), message)
            XCTAssertTrue(message.contains("multi_modal_projector.linear_1.weight: file [1536], model [48, 32]"), message)
        }
    }

    func testMissingFilesNameTheFix() throws {
        XCTAssertThrowsError(try load()) { error in
            XCTAssertTrue("\(error)".contains("holds neither model.safetensors nor model.safetensors.index.json"), "\(error)")
        }
        try FileManager.default.removeItem(at: directory.appendingPathComponent("tokenizer.json"))
        XCTAssertThrowsError(try ModelDirectory(path: directory.path).tokenizer()) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.json: not found"), "\(error)")
        }
    }

    /// PEFT's initialisation: A uniform within 1/sqrt(in), B zero (so the adapted model equals the
    /// base), soft prompts equal to the embeddings of the prompt suffix they replace.
    func testAdapterInitialisation() throws {
        _ = try writeWeights()
        let directory = try ModelDirectory(path: self.directory.path)
        let config = directory.llava!
        let prompts = try PromptBuilder(encoder: try directory.tokenizer(), templates: PromptTemplates(), imageTokenID: config.imageTokenIndex,
                                        eosTokenID: config.text.eosTokenId, imageTokens: config.imageTokensPerImage,
                                        maxPositions: config.text.maxPositionEmbeddings)
        let trainable = TrainableSet(lora: LoRASettings(rank: 4, alpha: 8), imageSoftPromptLength: prompts.imageSuffixIDs.count,
                                     textSoftPromptLength: prompts.textSuffixIDs.count)
        let model: VisionLanguageModel<Float> = try directory.loadModel(trainable: trainable)
        model.initializeAdapters(seed: 1, prompts: prompts)
        let a = model.parameters["language_model.model.layers.1.mlp.down_proj.lora_A.weight"]
        let bound = 1 / Float(a.shape[1]).squareRoot()
        let values = Array(UnsafeBufferPointer(start: a.value, count: a.count))
        XCTAssertTrue(values.allSatisfy { abs($0) <= bound }, "A within the Kaiming bound")
        XCTAssertGreaterThan(values.map(abs).max()!, bound * 0.8, "A spans the bound")
        let b = model.parameters["language_model.model.layers.1.mlp.down_proj.lora_B.weight"]
        XCTAssertTrue(UnsafeBufferPointer(start: b.value, count: b.count).allSatisfy { $0 == 0 })
        let soft = model.textPrompt!, table = model.language.embedTokens.value, width = model.hidden
        for (row, id) in prompts.textSuffixIDs.enumerated() {
            XCTAssertEqual(Array(UnsafeBufferPointer(start: soft.value + row * width, count: width)),
                           Array(UnsafeBufferPointer(start: table + Int(id) * width, count: width)))
        }
    }
}
