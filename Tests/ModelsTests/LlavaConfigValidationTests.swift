import Datasets
import Foundation
import ModelFactory
import ModelFiles
import Models
import Synthetic
import XCTest

/// Mutated config.json values: each is refused with a message naming the file and the key,
/// before anything is computed from it (the fuzzer found divisions by zero, traps and
/// allocations until memory ran out).
final class LlavaConfigValidationTests: XCTestCase {
    nonisolated(unsafe) static let base: [String: Any] = [
        "model_type": "llava", "image_token_index": 7, "vision_feature_layer": -2,
        "vision_config": ["hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "image_size": 16,
                          "patch_size": 4, "intermediate_size": 64],
        "text_config": ["hidden_size": 48, "num_attention_heads": 6, "num_key_value_heads": 2, "vocab_size": 100,
                        "num_hidden_layers": 2, "intermediate_size": 96, "max_position_embeddings": 64],
    ]

    /// config.json text with `raw` (JSON text) at the dotted `key`.
    static func mutated(_ key: String, _ raw: String) throws -> [UInt8] { try mutatedConfig(base, key, raw) }

    func testTheBaseConfigIsValid() throws {
        let config = try LlavaConfig.parse(try Self.mutated("text_config.rope_theta", "10000"), source: "config.json")
        XCTAssertEqual(config.imageTokensPerImage, 16)
        // Older Llama configs say "no pad token" with -1; that is not an id to check.
        XCTAssertEqual(try LlavaConfig.parse(try Self.mutated("text_config.pad_token_id", "-1"), source: "config.json").text.padTokenId, -1)
    }

    func testEveryMutatedValueIsAClearError() throws {
        let cases: [(key: String, value: String, message: String)] = [
            ("vision_config.patch_size", "0", "vision_config.patch_size is 0; it must be a positive divisor of image_size (16)."),
            ("vision_config.patch_size", "5", "vision_config.patch_size is 5; it must be a positive divisor of image_size (16)."),
            ("vision_config.patch_size", "-4", "vision_config.patch_size is -4"),
            ("vision_config.hidden_size", "0", "vision_config.hidden_size is 0; it must be a positive integer, at most 1048576."),
            ("vision_config.hidden_size", "1099511627776", "vision_config.hidden_size is 1099511627776"),
            ("vision_config.intermediate_size", "-1", "vision_config.intermediate_size is -1"),
            ("vision_config.num_attention_heads", "0", "vision_config.num_attention_heads is 0; it must be a positive divisor of hidden_size (32)."),
            ("vision_config.num_attention_heads", "3", "vision_config.num_attention_heads is 3"),
            ("vision_config.num_hidden_layers", "-1", "vision_config.num_hidden_layers is -1"),
            ("vision_config.num_hidden_layers", "0", "vision_config.num_hidden_layers is 0"),
            ("vision_config.num_hidden_layers", "1099511627776", "vision_config.num_hidden_layers is 1099511627776; it must be a positive integer, at most 4096."),
            ("vision_config.image_size", "0", "vision_config.image_size is 0"),
            ("vision_config.image_size", "1000000", "vision_config.image_size is 1000000"),
            ("vision_config.num_channels", "4", "vision_config.num_channels is 4; Discern feeds RGB images, so it must be 3."),
            ("vision_config.layer_norm_eps", "-1e-5", "vision_config.layer_norm_eps is -1e-05; it must be a positive, finite number."),
            ("vision_config.layer_norm_eps", "0", "vision_config.layer_norm_eps is 0.0"),
            ("vision_config.layer_norm_eps", "1e999", "vision_config.layer_norm_eps is inf"),
            ("text_config.num_key_value_heads", "0", "text_config.num_key_value_heads is 0; it must be a positive divisor of num_attention_heads (6)."),
            ("text_config.num_key_value_heads", "4", "text_config.num_key_value_heads is 4"),
            ("text_config.num_attention_heads", "0", "text_config.num_attention_heads is 0"),
            ("text_config.num_attention_heads", "5", "text_config.hidden_size 48 is not divisible by num_attention_heads 5"),
            ("text_config.num_hidden_layers", "-1", "text_config.num_hidden_layers is -1"),
            ("text_config.num_hidden_layers", "1099511627776", "text_config.num_hidden_layers is 1099511627776"),
            ("text_config.num_hidden_layers", "1.5", "'text_config.num_hidden_layers': expected an integer, found a number"),
            ("text_config.num_hidden_layers", "123456789012345678901234567890", "'text_config.num_hidden_layers': the integer"),
            ("text_config.num_hidden_layers", "true", "'text_config.num_hidden_layers': expected an integer, found a boolean"),
            ("text_config.vocab_size", "0", "text_config.vocab_size is 0"),
            ("text_config.vocab_size", "4294967296", "text_config.vocab_size is 4294967296; it must be a positive integer, at most 2147483647."),
            ("text_config.hidden_size", "0", "text_config.hidden_size is 0"),
            ("text_config.hidden_size", "\"big\"", "'text_config.hidden_size': expected an integer, found a string"),
            ("text_config.intermediate_size", "-5", "text_config.intermediate_size is -5"),
            ("text_config.head_dim", "7", "text_config.head_dim is 7; it must be positive and even"),
            ("text_config.head_dim", "0", "text_config.head_dim is 0"),
            ("text_config.max_position_embeddings", "0", "text_config.max_position_embeddings is 0"),
            ("text_config.max_position_embeddings", "-1", "text_config.max_position_embeddings is -1"),
            ("text_config.max_position_embeddings", "16", "text_config.max_position_embeddings is 16; it must exceed the 16 positions one image takes"),
            ("text_config.rms_norm_eps", "-1e-6", "text_config.rms_norm_eps is -1e-06; it must be a positive, finite number."),
            ("text_config.rms_norm_eps", "0", "text_config.rms_norm_eps is 0.0"),
            ("text_config.rope_theta", "0", "text_config.rope_theta is 0.0"),
            ("text_config.rope_theta", "-10000", "text_config.rope_theta is -10000.0"),
            ("text_config.rope_theta", "1e999", "text_config.rope_theta is inf"),
            ("text_config.bos_token_id", "100", "text_config.bos_token_id is 100; it must be a token id inside the vocabulary, 0 to 99 (vocab_size 100)."),
            ("text_config.bos_token_id", "-1", "text_config.bos_token_id is -1"),
            ("text_config.eos_token_id", "4294967296", "text_config.eos_token_id is 4294967296"),
            ("text_config.pad_token_id", "100", "text_config.pad_token_id is 100"),
            ("text_config.hidden_act", "\"relu\"", "text_config.hidden_act 'relu' is not supported"),
            ("image_token_index", "-1", "image_token_index is -1; it must be a token id from 0 to 2147483647."),
            ("image_token_index", "4294967296", "image_token_index is 4294967296"),
            ("vision_feature_layer", "4", "vision_feature_layer is 4; it must select an encoder layer of the 3-layer vision tower"),
            ("vision_feature_layer", "-5", "vision_feature_layer is -5"),
            ("vision_feature_layer", "0", "vision_feature_layer is 0"),
            ("vision_feature_layer", "-9223372036854775808", "vision_feature_layer is -9223372036854775808"),
        ]
        try assertEachRefused(cases.map { ($0.key, $0.value, $0.message) }, base: Self.base,
                              source: "/m/config.json") { try LlavaConfig.parse($0, source: $1) }
    }

    func testInvalidJSONInConfigIsRefused() {
        for text in [#"{"model_type": "llava", "model_type": "llava"}"#, #"{"text_config": {"vocab_size": 100,}}"#, "[1]"] {
            XCTAssertThrowsError(try LlavaConfig.parse(Array(text.utf8), source: "config.json"), text)
        }
    }

    /// An absurd but in-bounds size is refused against the memory available, before allocation.
    func testModelsThatCannotFitInMemoryAreRefusedWithTheNumbers() throws {
        let config = try LlavaConfig.parse(try Self.mutated("text_config.hidden_size", "49152"), source: "config.json")
        XCTAssertThrowsError(try config.checkMemoryFits(bytesPerValue: 4, source: "/m/config.json",
                                                        available: AvailableMemory(bytes: 1e9, source: "a test's budget"))) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("/m/config.json: the model needs at least 61.4 GB for its 1.53e+10 parameters (4 bytes each), but only 1.0 GB is available (a test's budget)."), message)
        }
        XCTAssertNoThrow(try config.checkMemoryFits(bytesPerValue: 4, source: "config.json", available: AvailableMemory(bytes: 1e11, source: "more")))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("absurd-model-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var huge = try Self.mutated("text_config.num_hidden_layers", "4096")
        huge = Array(String(decoding: huge, as: UTF8.self).replacingOccurrences(of: "\"hidden_size\":48", with: "\"hidden_size\":1048576")
            .replacingOccurrences(of: "\"intermediate_size\":96", with: "\"intermediate_size\":1048576")
            .replacingOccurrences(of: "\"num_attention_heads\":6", with: "\"num_attention_heads\":8").utf8)
        try Data(huge).write(to: directory.appendingPathComponent("config.json"))
        let model = try ModelDirectory(path: directory.path)
        XCTAssertEqual(model.config.hiddenSize, 1 << 20)
        XCTAssertThrowsError(try model.loadModel(as: Float.self) as VisionLanguageModel<Float>) { error in
            XCTAssertTrue("\(error)".contains("config.json: the model needs at least"), "\(error)")
            XCTAssertTrue("\(error)".contains("is available"), "\(error)")
        }
    }

    /// tokenizer.json ids beyond config.json's vocabulary are refused when the directory loads.
    func testTokenizerIDsMustLieInsideTheModelsVocabulary() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-ids-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try writeInitialModel(preset: .tiny, directory: directory, words: SyntheticVocabulary.words, imageSize: 32, seed: 1, force: true)
        let model = try ModelDirectory(path: directory)
        XCTAssertNoThrow(try model.tokenizer())
        let file = URL(fileURLWithPath: directory + "/tokenizer.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        var added = json["added_tokens"] as! [[String: Any]]
        let id = model.config.vocabularySize + 5
        added.append(["id": id, "content": "<extra>", "special": true])
        json["added_tokens"] = added
        try JSONSerialization.data(withJSONObject: json).write(to: file)
        XCTAssertThrowsError(try model.tokenizer()) { error in
            XCTAssertTrue("\(error)".contains("tokenizer.json: token '<extra>' (added_tokens) has id \(id)"), "\(error)")
        }
    }
}
