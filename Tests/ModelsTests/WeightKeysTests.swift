import Models
import XCTest

final class WeightKeysTests: XCTestCase {
    func testAllThreeLayoutsMapToTheClassicNames() {
        let cases = [
            ("language_model.model.layers.0.self_attn.q_proj.weight", "language_model.model.layers.0.self_attn.q_proj.weight"),
            ("model.language_model.layers.0.self_attn.q_proj.weight", "language_model.model.layers.0.self_attn.q_proj.weight"),
            ("model.language_model.embed_tokens.weight", "language_model.model.embed_tokens.weight"),
            ("lm_head.weight", "language_model.lm_head.weight"),
            ("language_model.lm_head.weight", "language_model.lm_head.weight"),
            ("model.vision_tower.vision_model.pre_layrnorm.bias", "vision_tower.vision_model.pre_layrnorm.bias"),
            ("vision_tower.encoder.layers.1.mlp.fc1.weight", "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"),
            ("vision_tower.embeddings.class_embedding", "vision_tower.vision_model.embeddings.class_embedding"),
            ("model.multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_2.bias"),
        ]
        for (input, expected) in cases { XCTAssertEqual(canonicalWeightKey(input), expected, input) }
    }
}
