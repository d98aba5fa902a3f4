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

    /// LLaVA's rules are the ones its exports always had (the same target_modules as before the
    /// rules moved here); Qwen2-VL's are checked against PEFT's own names in AdapterExportTests.
    func testModulePatternRewritesPerFamily() {
        XCTAssertEqual(WeightKeyLayout.llava.peftModuleName("language_model.model.layers.0.self_attn.q_proj"),
                       "language_model.model.layers.0.self_attn.q_proj")
        XCTAssertEqual(WeightKeyLayout.llava.modulePattern(escaped: #"language_model\.model\.layers\."#),
                       #"(model\.)?language_model\.(model\.)?layers\."#)
        XCTAssertEqual(WeightKeyLayout.llava.modulePattern(escaped: #"multi_modal_projector\.linear_1"#),
                       #"(model\.)?multi_modal_projector\.linear_1"#)
        XCTAssertEqual(WeightKeyLayout.qwen2VL.peftModuleName("model.layers.1.mlp.up_proj"), "model.language_model.layers.1.mlp.up_proj")
        XCTAssertEqual(WeightKeyLayout.qwen2VL.peftModuleName("visual.merger.mlp.0"), "model.visual.merger.mlp.0")
        XCTAssertEqual(WeightKeyLayout.qwen2VL.peftModuleName("lm_head"), "lm_head")
        XCTAssertEqual(WeightKeyLayout.qwen2VL.modulePattern(escaped: #"visual\.blocks\."#), #"(model\.)?visual\.blocks\."#)
        for module in ["model.language_model.layers.1.mlp.up_proj", "model.visual.merger.mlp.0"] {
            XCTAssertEqual(WeightKeyLayout.qwen2VL.canonical(WeightKeyLayout.qwen2VL.peftModuleName(WeightKeyLayout.qwen2VL.canonical(module))),
                           WeightKeyLayout.qwen2VL.canonical(module), "import reads back what export writes")
        }
    }
}
