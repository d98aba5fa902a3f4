import Foundation
import ModelFiles
import Models
import XCTest

/// Qwen2-VL config.json files in both forms against what transformers 5.24 resolves from them
/// (Fixtures/qwen2vl-config-expected.json, made by Tests/Reference/make_qwen2vl_config_fixtures.py),
/// and mutated values, each refused with a message naming the file, the key and the fix.
final class Qwen2VLConfigTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A tiny model in transformers 5's nested form (the qwen2vl-a fixture's values).
    nonisolated(unsafe) static let nested: [String: Any] = [
        "model_type": "qwen2_vl", "image_token_id": 362, "video_token_id": 363, "vision_start_token_id": 359,
        "vision_end_token_id": 360, "tie_word_embeddings": false,
        "text_config": ["model_type": "qwen2_vl_text", "hidden_size": 48, "num_attention_heads": 6, "num_key_value_heads": 2,
                        "intermediate_size": 64, "num_hidden_layers": 2, "vocab_size": 384, "max_position_embeddings": 256,
                        "bos_token_id": 350, "eos_token_id": 350,
                        "rope_parameters": ["rope_type": "default", "rope_theta": 1000.0, "mrope_section": [2, 1, 1]]],
        "vision_config": ["model_type": "qwen2_vl_vision", "depth": 2, "embed_dim": 16, "hidden_size": 48, "num_heads": 1,
                          "mlp_ratio": 4, "patch_size": 2, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3,
                          "hidden_act": "quick_gelu"],
    ]

    /// The same kind of model in the older flat hub form (the qwen2vl-b fixture's values).
    nonisolated(unsafe) static let flat: [String: Any] = [
        "model_type": "qwen2_vl", "image_token_id": 362, "video_token_id": 363, "vision_start_token_id": 359,
        "vision_end_token_id": 360, "tie_word_embeddings": true, "hidden_size": 32, "num_attention_heads": 2,
        "num_key_value_heads": 1, "intermediate_size": 48, "num_hidden_layers": 3, "vocab_size": 364, "bos_token_id": 350,
        "eos_token_id": 352, "rope_theta": 10000.0, "rope_scaling": ["type": "mrope", "mrope_section": [2, 3, 3]],
        "vision_config": ["depth": 3, "embed_dim": 24, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2, "patch_size": 3,
                          "spatial_patch_size": 3, "in_chans": 3, "spatial_merge_size": 2, "temporal_patch_size": 2],
    ]

    static func parse(_ base: [String: Any], _ key: String, _ raw: String?) throws -> Qwen2VLConfig {
        try Qwen2VLConfig.parse(try mutatedConfig(base, key, raw), source: "config.json")
    }

    func testFixturesResolveAsTransformersResolvesThem() throws {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("qwen2vl-config-expected.json"))
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        XCTAssertEqual(Set(expected.keys), ["qwen2vl-a", "qwen2vl-b", "qwen2vl-2b-instruct"])
        for (name, values) in expected {
            let config = try Qwen2VLConfig.load(directory: Self.fixtures.appendingPathComponent(name))
            XCTAssertEqual(config, try Self.config(from: values), name)
            XCTAssertEqual(config.vision.mlpWidth, (values["vision"] as? [String: Any])?["mlp_width"] as? Int, name)
            // Every width the config derives, summed the way transformers' modules hold them.
            XCTAssertEqual(Self.parameterCount(config), values["parameter_count"] as? Int, name)
        }
    }

    /// Qwen2-VL-2B-Instruct's own file (older flat form), reconstructed from the notes.
    func testTheTwoBillionInstructConfig() throws {
        let config = try Qwen2VLConfig.load(directory: Self.fixtures.appendingPathComponent("qwen2vl-2b-instruct"))
        let text = config.text, vision = config.vision
        XCTAssertEqual([text.numHiddenLayers, text.hiddenSize, text.numAttentionHeads, text.numKeyValueHeads, text.headDim], [28, 1536, 12, 2, 128])
        XCTAssertEqual([text.intermediateSize, text.vocabSize, text.maxPositionEmbeddings], [8960, 151936, 32768])
        XCTAssertTrue(config.tieWordEmbeddings && text.tieWordEmbeddings)
        XCTAssertFalse(text.attentionBias || text.mlpBias)
        XCTAssertEqual(text.hiddenAct, "silu")
        XCTAssertEqual(config.mropeSection, [16, 24, 24])
        XCTAssertEqual(text.ropeTheta, 1e6)
        XCTAssertEqual(text.rmsNormEps, 1e-6)
        XCTAssertEqual([config.imageTokenID, config.videoTokenID, config.visionStartTokenID, config.visionEndTokenID], [151655, 151656, 151652, 151653])
        XCTAssertEqual([text.bosTokenId, text.eosTokenId], [151643, 151645])
        XCTAssertNil(text.padTokenId)
        XCTAssertEqual([vision.depth, vision.embedDim, vision.numHeads, vision.headDim, vision.mlpWidth], [32, 1280, 16, 80, 5120])
        XCTAssertEqual([vision.patchSize, vision.spatialMergeSize, vision.temporalPatchSize, vision.inChannels, vision.hiddenSize], [14, 2, 2, 3, 1536])
        XCTAssertEqual(vision.mlpRatio, 4)
        XCTAssertEqual(vision.hiddenAct, "quick_gelu")
        XCTAssertEqual([vision.patchLength, vision.mergeWindow, vision.mergedWidth], [1176, 4, 5120])
    }

    func testMissingKeysTakeTransformersDefaults() throws {
        let config = try Qwen2VLConfig.parse(Array("""
        {"model_type": "qwen2_vl", "text_config": {"hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 28},
         "vision_config": {"hidden_size": 4096}}
        """.utf8), source: "config.json")
        // Qwen2VLTextConfig's and Qwen2VLVisionConfig's class defaults (the 7B tower, but for its
        // output width, which must match the text width: the two classes' defaults disagree).
        XCTAssertEqual([config.text.vocabSize, config.text.intermediateSize, config.text.numKeyValueHeads, config.text.maxPositionEmbeddings],
                       [152064, 29568, 8, 32768])
        XCTAssertEqual(config.text.rmsNormEps, 1e-5)
        XCTAssertEqual(config.text.ropeTheta, 1e6)
        XCTAssertEqual(config.mropeSection, [16, 24, 24])
        XCTAssertEqual([config.text.bosTokenId, config.text.eosTokenId], [151643, 151645])
        XCTAssertFalse(config.tieWordEmbeddings)
        XCTAssertEqual(config.vision, Qwen2VLVisionConfig(depth: 32, embedDim: 1280, hiddenSize: 4096, numHeads: 16, mlpRatio: 4, patchSize: 14,
                                                          spatialMergeSize: 2, temporalPatchSize: 2, inChannels: 3, hiddenAct: "quick_gelu"))
        XCTAssertEqual([config.imageTokenID, config.videoTokenID, config.visionStartTokenID, config.visionEndTokenID], [151655, 151656, 151652, 151653])
    }

    /// transformers' own defaults pair a 3584-wide merger with an 8192-wide decoder; the model could not run.
    func testTheBareDefaultsAreRefused() {
        XCTAssertThrowsError(try Qwen2VLConfig.parse(Array(#"{"model_type": "qwen2_vl"}"#.utf8), source: "config.json")) { error in
            XCTAssertTrue("\(error)".contains("config.json: vision_config.hidden_size is 3584; the merger's output is the language model's input, so it must equal hidden_size (8192)."), "\(error)")
        }
    }

    /// Spellings transformers 5.24 accepts, with the meaning it gives them.
    func testOtherSpellingsTransformersAccepts() throws {
        // A null key/value head count is one per attention head; an absent one is the class default 8.
        XCTAssertEqual(try Self.parse(Self.nested, "text_config.num_key_value_heads", "null").text.numKeyValueHeads, 6)
        XCTAssertEqual(try Self.parse(Self.nested, "text_config.rope_parameters.rope_type", "\"mrope\"").mropeSection, [2, 1, 1])
        XCTAssertEqual(try Self.parse(Self.nested, "vision_config.model_type", "\"qwen2_vl\"").vision.depth, 2)
        XCTAssertEqual(try Self.parse(Self.nested, "vision_config.rope_parameters", #"{"rope_type": "default", "rope_theta": 10000}"#).vision.depth, 2)
        XCTAssertEqual(try Self.parse(Self.nested, "vision_config.num_hidden_layers", "2").vision.depth, 2)
        XCTAssertEqual(try Self.parse(Self.nested, "vision_config.mlp_ratio", "4.0").vision.mlpWidth, 64)
        // Pre-v5 saves put tie_word_embeddings in text_config; either place ties.
        var tiedInText = Self.nested
        tiedInText["text_config"] = (Self.nested["text_config"] as! [String: Any]).merging(["tie_word_embeddings": true]) { $1 }
        XCTAssertTrue(try Self.parse(tiedInText, "tie_word_embeddings", "false").tieWordEmbeddings)
        // rope_theta outside rope_parameters is used when rope_parameters has none.
        var thetaOutside = try Self.parse(Self.nested, "text_config.rope_parameters.rope_theta", nil)
        XCTAssertEqual(thetaOutside.text.ropeTheta, 1e6)
        var withTheta = Self.nested
        withTheta["text_config"] = (Self.nested["text_config"] as! [String: Any]).merging(["rope_theta": 77.0]) { $1 }
        thetaOutside = try Self.parse(withTheta, "text_config.rope_parameters.rope_theta", nil)
        XCTAssertEqual(thetaOutside.text.ropeTheta, 77)
    }

    func testEveryMutatedValueIsAClearError() throws {
        let cases: [(key: String, value: String?, message: String)] = [
            ("model_type", "\"llava\"", "model_type is 'llava'; Discern loads Qwen2-VL models here (model_type \"qwen2_vl\")."),
            ("text_config.model_type", "\"qwen2\"", "text_config.model_type is 'qwen2'; Discern loads Qwen2-VL's own text model here"),
            ("vision_config.model_type", "\"clip_vision_model\"", "vision_config.model_type is 'clip_vision_model'"),
            ("text_config.rope_parameters.rope_type", "\"yarn\"", "text_config.rope_parameters.rope_type is 'yarn'; Qwen2-VL's M-RoPE is \"default\" (older files: \"mrope\"), and scaled RoPE variants are not supported. Use \"default\"."),
            ("text_config.rope_parameters.factor", "2.0", "text_config.rope_parameters.factor is set; Qwen2-VL's M-RoPE takes only rope_type, rope_theta and mrope_section"),
            ("text_config.rope_parameters.rope_theta", "0", "text_config.rope_parameters.rope_theta is 0.0; it must be a positive, finite number"),
            ("text_config.rope_parameters", "4", "'text_config.rope_parameters': expected an object, found a number"),
            ("text_config.rope_parameters.mrope_section", "[2, 1]", "text_config.rope_parameters.mrope_section is [2, 1]; it must be 3 non-negative counts (time, height, width) summing to head_dim / 2 = 4"),
            ("text_config.rope_parameters.mrope_section", "[2, 2, 2]", "text_config.rope_parameters.mrope_section is [2, 2, 2]; it must be 3"),
            ("text_config.rope_parameters.mrope_section", "[5, -1, 0]", "text_config.rope_parameters.mrope_section is [5, -1, 0]"),
            ("text_config.rope_parameters.mrope_section", "[9223372036854775807, 1, 1]", "mrope_section is [9223372036854775807, 1, 1]"),
            // The modeling code's default, [16, 24, 24], fits only head_dim 128.
            ("text_config.rope_parameters.mrope_section", nil, "text_config.rope_parameters.mrope_section is [16, 24, 24]; it must be"),
            ("text_config.rope_scaling", #"{"type": "mrope", "mrope_section": [2, 1, 1]}"#, "text_config.rope_scaling and text_config.rope_parameters are both set; transformers reads only rope_scaling. Keep one"),
            ("text_config.head_dim", "16", "text_config.head_dim is 16; Qwen2-VL's attention uses hidden_size / num_attention_heads (8). Remove it or set it to 8."),
            ("text_config.num_attention_heads", "5", "text_config.hidden_size 48 is not divisible by num_attention_heads 5; fix the sizes."),
            ("text_config.num_key_value_heads", "4", "text_config.num_key_value_heads is 4; it must be a positive divisor of num_attention_heads (6)."),
            ("text_config.use_sliding_window", "true", "text_config.use_sliding_window is true; Discern's decoder has no sliding-window attention"),
            ("text_config.layer_types", #"["full_attention", "sliding_attention"]"#, "text_config.layer_types[1] is 'sliding_attention'; Discern's decoder supports only \"full_attention\" layers."),
            ("text_config.hidden_act", "\"gelu\"", "text_config.hidden_act 'gelu' is not supported; Llama-style decoders (Llama, Qwen2) use \"silu\"."),
            ("text_config.bos_token_id", "384", "text_config.bos_token_id is 384; it must be a token id inside the vocabulary, 0 to 383"),
            ("text_config.vocab_size", "0", "text_config.vocab_size is 0; it must be a positive integer"),
            ("text_config.hidden_size", "48.5", "'text_config.hidden_size': expected an integer, found a number"),
            ("image_token_id", "384", "image_token_id is 384; it must be a token id inside the vocabulary, 0 to 383 (vocab_size 384)."),
            ("video_token_id", "362", "video_token_id is 362, the same as image_token_id; each special token marks one thing, so give it its own id."),
            ("vision_end_token_id", "359", "vision_end_token_id is 359, the same as vision_start_token_id"),
            ("vision_start_token_id", "-1", "vision_start_token_id is -1; it must be a token id inside the vocabulary"),
            ("vision_end_token_id", "4294967296", "vision_end_token_id is 4294967296"),
            ("vision_config.hidden_size", "32", "vision_config.hidden_size is 32; the merger's output is the language model's input, so it must equal text_config.hidden_size (48)."),
            ("vision_config.num_heads", "3", "vision_config.num_heads is 3; it must divide embed_dim (16) into heads whose size is a multiple of 4"),
            ("vision_config.num_heads", "8", "vision_config.num_heads is 8; it must divide embed_dim (16)"),
            ("vision_config.num_heads", "0", "vision_config.num_heads is 0"),
            ("vision_config.num_attention_heads", "2", "vision_config.num_attention_heads is 2 but vision_config.num_heads is 1; they name the same value. Remove one or make them agree."),
            ("vision_config.head_dim", "8", "vision_config.head_dim is 8; Qwen2-VL's attention uses embed_dim / num_heads (16). Remove it or set it to 16."),
            ("vision_config.in_channels", "4", "vision_config.in_channels is 4; Discern feeds RGB images, so it must be 3."),
            ("vision_config.in_chans", "1", "vision_config.in_chans is 1 but vision_config.in_channels is 3; transformers reads only in_channels. Make them agree or remove in_chans."),
            ("vision_config.spatial_patch_size", "3", "vision_config.spatial_patch_size is 3 but vision_config.patch_size is 2"),
            ("vision_config.hidden_act", "\"relu\"", "vision_config.hidden_act 'relu' is not supported (quick_gelu, gelu, gelu_pytorch_tanh, silu)."),
            ("vision_config.mlp_ratio", "2.5", "'vision_config.mlp_ratio': expected an integer, found a number"),
            ("vision_config.mlp_ratio", "0", "vision_config.mlp_ratio is 0.0; it must be positive"),
            ("vision_config.mlp_ratio", "9223372036854775807", "vision_config.mlp_ratio is 9.223372036854776e+18"),
            ("vision_config.depth", "0", "vision_config.depth is 0; it must be a positive integer, at most 4096."),
            ("vision_config.embed_dim", "1099511627776", "vision_config.embed_dim is 1099511627776"),
            ("vision_config.patch_size", "0", "vision_config.patch_size is 0"),
            ("vision_config.patch_size", "1000", "vision_config.patch_size is 1000; one patch row (in_channels x temporal_patch_size x patch_size^2 = 6000000 values)"),
            ("vision_config.spatial_merge_size", "0", "vision_config.spatial_merge_size is 0"),
            ("vision_config.temporal_patch_size", "-2", "vision_config.temporal_patch_size is -2"),
            ("vision_config.rope_parameters", #"{"rope_type": "linear"}"#, "vision_config.rope_parameters.rope_type is 'linear'; Qwen2-VL's vision tower supports only \"axial\""),
            ("vision_config.rope_parameters", #"{"rope_type": "axial", "rope_theta": 5000}"#, "vision_config.rope_parameters.rope_theta is 5000.0; Discern's Qwen2-VL vision tower uses theta 10000"),
            ("vision_config.rope_parameters", #"{"mrope_section": [1, 1, 2]}"#, "vision_config.rope_parameters.mrope_section is set"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        XCTAssertNoThrow(try Self.parse(Self.nested, "architectures", #"["Qwen2VLForConditionalGeneration"]"#))
        try assertEachRefused(cases, base: Self.nested, source: "/m/config.json") { try Qwen2VLConfig.parse($0, source: $1) }
    }

    /// In the flat form the text keys are at the top level, and so are their names in messages.
    nonisolated(unsafe) static let flatFormRefusals: [(key: String, value: String?, message: String)] = [
        ("rope_scaling.type", "\"linear\"", "/m/config.json: rope_scaling.type is 'linear'; Qwen2-VL's M-RoPE is \"default\""),
        ("rope_scaling.factor", "4", "/m/config.json: rope_scaling.factor is set"),
        ("rope_scaling.mrope_section", "[4, 2, 3]", "/m/config.json: rope_scaling.mrope_section is [4, 2, 3]; it must be 3 non-negative counts (time, height, width) summing to head_dim / 2 = 8"),
        ("rope_theta", "-1", "/m/config.json: rope_theta is -1.0; it must be a positive, finite number"),
        ("num_key_value_heads", "3", "/m/config.json: num_key_value_heads is 3; it must be a positive divisor of num_attention_heads (2)."),
        ("hidden_size", "24", "vision_config.hidden_size is 32; the merger's output is the language model's input, so it must equal hidden_size (24)."),
        ("use_sliding_window", "true", "/m/config.json: use_sliding_window is true"),
        ("vision_config.in_chans", "4", "vision_config.in_chans is 4 but vision_config.in_channels is 3 (transformers' default, as the key is absent)"),
    ]

    func testMutatedFlatFormValuesNameTopLevelKeys() throws {
        XCTAssertEqual(try Self.parse(Self.flat, "torch_dtype", "\"bfloat16\"").text.numHiddenLayers, 3)
        try assertEachRefused(Self.flatFormRefusals, base: Self.flat, source: "/m/config.json") { try Qwen2VLConfig.parse($0, source: $1) }
    }

    func testAMissingFileOrBadJSONIsRefused() {
        XCTAssertThrowsError(try Qwen2VLConfig.load(directory: URL(fileURLWithPath: "/nonexistent-qwen2vl"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-qwen2vl/config.json: not found. A model directory needs config.json"), "\(error)")
        }
        for text in [#"{"model_type": "qwen2_vl", "model_type": "qwen2_vl"}"#, #"{"text_config": {"vocab_size": 100,}}"#, "[1]"] {
            XCTAssertThrowsError(try Qwen2VLConfig.parse(Array(text.utf8), source: "config.json"), text)
        }
    }

    /// Every integer of both tiny forms replaced by extreme values, one at a time: each file either
    /// parses into a config that passed validation or throws; a trap would end the test run.
    func testExtremeNumbersNeverTrap() throws {
        let extremes = ["0", "-1", "1", "3", "9223372036854775807", "-9223372036854775808", "1e308", "4294967296", "1048577"]
        for name in ["qwen2vl-a", "qwen2vl-b", "qwen2vl-2b-instruct"] {
            let text = try String(contentsOf: Self.fixtures.appendingPathComponent("\(name)/config.json"), encoding: .utf8)
            let numbers = try NSRegularExpression(pattern: "(?<=[:\\[ ])-?[0-9][0-9.e+-]*").matches(in: text, range: NSRange(text.startIndex..., in: text))
            var accepted = 0
            for match in numbers {
                for extreme in extremes {
                    let mutated = (text as NSString).replacingCharacters(in: match.range, with: extreme)
                    if (try? Qwen2VLConfig.parse(Array(mutated.utf8), source: "config.json")) != nil { accepted += 1 }
                }
            }
            XCTAssertGreaterThan(numbers.count, 20, name)
            XCTAssertLessThan(accepted, numbers.count * extremes.count, name)
        }
    }

    /// The config as transformers resolved it (the expected file's layout).
    static func config(from values: [String: Any]) throws -> Qwen2VLConfig {
        let t = try XCTUnwrap(values["text"] as? [String: Any]), v = try XCTUnwrap(values["vision"] as? [String: Any])
        func int(_ dictionary: [String: Any], _ key: String) throws -> Int { try XCTUnwrap(dictionary[key] as? Int, key) }
        func double(_ dictionary: [String: Any], _ key: String) throws -> Double { try XCTUnwrap(dictionary[key] as? Double, key) }
        let tie = try XCTUnwrap(values["tie_word_embeddings"] as? Bool)
        let text = LlamaConfig(vocabSize: try int(t, "vocab_size"), hiddenSize: try int(t, "hidden_size"), intermediateSize: try int(t, "intermediate_size"),
                               numHiddenLayers: try int(t, "num_hidden_layers"), numAttentionHeads: try int(t, "num_attention_heads"),
                               numKeyValueHeads: try int(t, "num_key_value_heads"), headDim: try int(t, "head_dim"),
                               hiddenAct: try XCTUnwrap(t["hidden_act"] as? String), maxPositionEmbeddings: try int(t, "max_position_embeddings"),
                               rmsNormEps: try double(t, "rms_norm_eps"), ropeTheta: try double(t, "rope_theta"), attentionBias: false, mlpBias: false,
                               tieWordEmbeddings: tie, bosTokenId: try int(t, "bos_token_id"), eosTokenId: try int(t, "eos_token_id"),
                               padTokenId: t["pad_token_id"] as? Int)
        XCTAssertEqual(try double(v, "rope_theta"), 10000)
        let vision = Qwen2VLVisionConfig(depth: try int(v, "depth"), embedDim: try int(v, "embed_dim"), hiddenSize: try int(v, "hidden_size"),
                                         numHeads: try int(v, "num_heads"), mlpRatio: try double(v, "mlp_ratio"), patchSize: try int(v, "patch_size"),
                                         spatialMergeSize: try int(v, "spatial_merge_size"), temporalPatchSize: try int(v, "temporal_patch_size"),
                                         inChannels: try int(v, "in_channels"), hiddenAct: try XCTUnwrap(v["hidden_act"] as? String))
        return Qwen2VLConfig(vision: vision, text: text, mropeSection: try XCTUnwrap(values["mrope_section"] as? [Int]),
                             imageTokenID: try int(values, "image_token_id"), videoTokenID: try int(values, "video_token_id"),
                             visionStartTokenID: try int(values, "vision_start_token_id"), visionEndTokenID: try int(values, "vision_end_token_id"),
                             tieWordEmbeddings: tie)
    }

    /// Qwen2-VL's parameters by module: the decoder (q, k, v with biases, o without), the patch
    /// embedding (no bias), the vision blocks and the merger.
    static func parameterCount(_ config: Qwen2VLConfig) -> Int {
        let t = config.text, width = t.hiddenSize, keyValueWidth = t.numKeyValueHeads * t.headDim
        let attention = 2 * width * width + width + 2 * (width * keyValueWidth + keyValueWidth)
        let decoderLayer = attention + 3 * width * t.intermediateSize + 2 * width
        let text = t.vocabSize * width * (config.tieWordEmbeddings ? 1 : 2) + t.numHiddenLayers * decoderLayer + width
        let v = config.vision, embed = v.embedDim, mlp = v.mlpWidth, merged = v.mergedWidth
        let block = 4 * embed + (3 * embed * embed + 3 * embed) + (embed * embed + embed) + (embed * mlp + mlp) + (mlp * embed + embed)
        let merger = 2 * embed + (merged * merged + merged) + (merged * v.hiddenSize + v.hiddenSize)
        return text + embed * v.patchLength + v.depth * block + merger
    }
}
