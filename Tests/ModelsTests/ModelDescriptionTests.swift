import Foundation
import Layers
import ModelFiles
import Models
import XCTest

/// The model's one description of its tensors: what loading, LoRA targeting and 16-bit storage
/// read instead of keeping lists (or name rules) of their own.
final class ModelDescriptionTests: XCTestCase {
    func config(tied: Bool, projectorBias: Bool = true) throws -> LlavaConfig {
        try LlavaConfig.parse(Data("""
        {"model_type": "llava", "image_token_index": 7, "projector_hidden_act": "gelu", "multimodal_projector_bias": \(projectorBias),
         "vision_config": {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4, "image_size": 16, "patch_size": 4,
                           "intermediate_size": 64},
         "text_config": {"hidden_size": 48, "num_attention_heads": 6, "num_key_value_heads": 2, "vocab_size": 100,
                         "num_hidden_layers": 2, "intermediate_size": 96},
         "tie_word_embeddings": \(tied)}
        """.utf8), source: "config.json")
    }

    func testTheClassicLayoutInCheckpointOrder() throws {
        let description = try config(tied: false).modelDescription
        let names = description.names
        XCTAssertEqual(Array(names.prefix(5)), ["vision_tower.vision_model.embeddings.class_embedding",
                                                "vision_tower.vision_model.embeddings.patch_embedding.weight",
                                                "vision_tower.vision_model.embeddings.position_embedding.weight",
                                                "vision_tower.vision_model.pre_layrnorm.weight", "vision_tower.vision_model.pre_layrnorm.bias"])
        // One CLIP layer: attention (q, k, v, out with biases), both norms, then the MLP.
        XCTAssertEqual(Array(names[5..<21]).map { $0.replacingOccurrences(of: "vision_tower.vision_model.encoder.layers.0.", with: "") },
                       ["self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
                        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
                        "layer_norm1.weight", "layer_norm1.bias", "layer_norm2.weight", "layer_norm2.bias",
                        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"])
        let llama = names.drop { !$0.hasPrefix("language_model.") }
        XCTAssertEqual(Array(llama.prefix(10)), ["language_model.model.embed_tokens.weight"] + [
            "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight",
            "post_attention_layernorm.weight"].map { "language_model.model.layers.0." + $0 })
        XCTAssertEqual(Array(names.suffix(2)), ["language_model.model.norm.weight", "language_model.lm_head.weight"])
        XCTAssertEqual(Set(names).count, names.count, "no tensor is described twice")
        XCTAssertTrue(description.ignoredTensors.isEmpty)
        XCTAssertEqual(description.parameterCount, ModelPart.allCases.reduce(0) { $0 + description.parameterCount($1) })
        XCTAssertEqual(description.parameterCount(.connector), 32 * 48 + 48 + 48 * 48 + 48)
    }

    func testATiedHeadIsNotAParameterButMayBeInTheFile() throws {
        let description = try config(tied: true).modelDescription
        XCTAssertFalse(description.names.contains("language_model.lm_head.weight"))
        XCTAssertEqual(description.ignoredTensors, ["language_model.lm_head.weight"])
    }

    func testLoRAAndHalfStorageFollowHowEachTensorIsRead() throws {
        let description = try config(tied: false, projectorBias: false).modelDescription
        let targetable = description.tensors.filter(\.loraTargetable).map(\.name)
        // Every projection of both towers and the projector; never embeddings or the head.
        XCTAssertEqual(targetable.count, 3 * 6 + 2 + 2 * 7)
        XCTAssertTrue(targetable.allSatisfy { $0.hasSuffix("proj.weight") || $0.contains("mlp.fc") || $0.contains("linear_") }, "\(targetable)")
        let half = Set(description.tensors.filter(\.mayStayHalf).map(\.name))
        XCTAssertEqual(half, Set(targetable + ["language_model.model.embed_tokens.weight", "language_model.lm_head.weight"]))
        XCTAssertFalse(half.contains("vision_tower.vision_model.embeddings.position_embedding.weight"), "added value by value")
    }

    func testLoRASpecsSitBesideTheirLinearAndAnUnmatchedPatternNamesALanguageModule() throws {
        let config = try config(tied: false)
        let specs = try config.parameterSpecs(trainable: TrainableSet(lora: LoRASettings(rank: 4)))
        let names = specs.map(\.name)
        let q = try XCTUnwrap(names.firstIndex(of: "language_model.model.layers.1.self_attn.q_proj.weight"))
        XCTAssertEqual(names[q + 1], "language_model.model.layers.1.self_attn.q_proj.lora_A.weight")
        XCTAssertEqual(specs[q + 1].shape, [4, 48])
        XCTAssertEqual(specs[q + 2].shape, [48, 4])
        XCTAssertEqual(specs.filter(\.trainable).count, 2 * 7 * 2)
        XCTAssertThrowsError(try config.parameterSpecs(trainable: TrainableSet(lora: LoRASettings(targetPattern: "nothing")))) { error in
            XCTAssertTrue("\(error)".contains("Module names look like 'language_model.model.layers.0.self_attn.q_proj'"), "\(error)")
        }
    }

    func testTheBuiltModelReadsExactlyTheDescribedTensors() throws {
        let config = try config(tied: false)
        let model = try VisionLanguageModel<Float>(config: config, trainable: TrainableSet(lora: LoRASettings(rank: 2)))
        let base = model.parameters.parameters.map(\.name).filter { !$0.contains(".lora_") }
        XCTAssertEqual(base, model.modelDescription.names)
        XCTAssertFalse(model.vision.needsBackward, "the default targets adapt the LLM only")
        XCTAssertFalse((model.vision as! LlavaVisionEncoder<Float>).projector.needsBackward)
        let adapted = try VisionLanguageModel<Float>(config: config, trainable: TrainableSet(lora: LoRASettings(rank: 2, targetPattern: #".*fc1"#)))
        XCTAssertTrue(adapted.vision.needsBackward, "a LoRA adapter in the tower makes it train")
    }
}
