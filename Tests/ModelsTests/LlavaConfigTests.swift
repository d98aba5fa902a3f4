import Foundation
import ModelFiles
import Models
import XCTest

final class LlavaConfigTests: XCTestCase {
    func parse(_ json: String) throws -> LlavaConfig { try LlavaConfig.parse(Data(json.utf8), source: "config.json") }

    func testMissingSectionsTakeTransformersDefaults() throws {
        let config = try parse(#"{"model_type": "llava"}"#)
        // A missing vision_config is CLIP ViT-L/14-336, a missing text_config is Llama-7B.
        XCTAssertEqual(config.vision.hiddenSize, 1024)
        XCTAssertEqual(config.vision.imageSize, 336)
        XCTAssertEqual(config.vision.patchSize, 14)
        XCTAssertEqual(config.text.hiddenSize, 4096)
        XCTAssertEqual(config.text.numKeyValueHeads, 32)
        XCTAssertEqual(config.imageTokenIndex, 32000)
        XCTAssertEqual(config.imageTokensPerImage, 576)
        XCTAssertEqual(config.visionLayersUsed, 23)
    }

    func testTinyConfigWithNewerSpellings() throws {
        let config = try parse("""
        {"model_type": "llava", "image_token_id": 7, "vision_feature_select_strategy": "full", "vision_feature_layer": -1,
         "vision_config": {"model_type": "clip_vision_model", "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
                           "image_size": 16, "patch_size": 4, "intermediate_size": 64},
         "text_config": {"model_type": "llama", "hidden_size": 48, "num_attention_heads": 6, "num_key_value_heads": 2,
                         "vocab_size": 100, "num_hidden_layers": 2, "intermediate_size": 96, "rope_parameters": {"rope_theta": 500000.0}},
         "tie_word_embeddings": true}
        """)
        XCTAssertEqual(config.imageTokenIndex, 7)
        XCTAssertEqual(config.imageTokensPerImage, 17)
        XCTAssertEqual(config.visionLayersUsed, 3)
        XCTAssertEqual(config.text.headDim, 8)
        XCTAssertEqual(config.text.ropeTheta, 500000)
        XCTAssertTrue(config.tieWordEmbeddings)
        XCTAssertEqual(config.vision.layerNormEps, 1e-5)
    }

    func testErrorsNameTheKey() {
        XCTAssertThrowsError(try parse(#"{"text_config": {"hidden_size": "big"}}"#)) { error in
            XCTAssertTrue("\(error)".contains("text_config.hidden_size"), "\(error)")
        }
        XCTAssertThrowsError(try parse(#"{"model_type": "blip"}"#)) { error in
            XCTAssertTrue("\(error)".contains("blip"), "\(error)")
        }
        XCTAssertThrowsError(try parse(#"{"text_config": {"num_attention_heads": 6, "num_key_value_heads": 4, "hidden_size": 48}}"#)) { error in
            XCTAssertTrue("\(error)".contains("num_key_value_heads"), "\(error)")
        }
        XCTAssertThrowsError(try parse(#"{"text_config": {"tie_word_embeddings": 1}}"#)) { error in
            XCTAssertTrue("\(error)".contains("true or false"), "\(error)")
        }
        XCTAssertThrowsError(try parse("{not json")) { error in
            XCTAssertTrue("\(error)".contains("not valid JSON"), "\(error)")
        }
        XCTAssertThrowsError(try LlavaConfig.load(directory: URL(fileURLWithPath: "/nonexistent-model"))) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-model/config.json"), "\(error)")
        }
    }
}
