import Foundation
import Layers

extension LlavaConfig {
    /// The base model's tensors, named and shaped as the classic hub layout stores them.
    public var baseParameterShapes: [(name: String, shape: [Int])] {
        var shapes: [(String, [Int])] = []
        let v = vision, t = text
        func vision(_ name: String, _ shape: [Int]) { shapes.append((CLIPVisionTower<Float>.prefix(name), shape)) }
        vision("embeddings.class_embedding", [v.hiddenSize])
        vision("embeddings.patch_embedding.weight", [v.hiddenSize, v.numChannels, v.patchSize, v.patchSize])
        vision("embeddings.position_embedding.weight", [v.numPatches + 1, v.hiddenSize])
        vision("pre_layrnorm.weight", [v.hiddenSize]); vision("pre_layrnorm.bias", [v.hiddenSize])
        for i in 0..<v.numHiddenLayers {
            let l = "encoder.layers.\(i)."
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                vision(l + "self_attn.\(projection).weight", [v.hiddenSize, v.hiddenSize])
                vision(l + "self_attn.\(projection).bias", [v.hiddenSize])
            }
            for norm in ["layer_norm1", "layer_norm2"] {
                vision(l + norm + ".weight", [v.hiddenSize]); vision(l + norm + ".bias", [v.hiddenSize])
            }
            vision(l + "mlp.fc1.weight", [v.intermediateSize, v.hiddenSize]); vision(l + "mlp.fc1.bias", [v.intermediateSize])
            vision(l + "mlp.fc2.weight", [v.hiddenSize, v.intermediateSize]); vision(l + "mlp.fc2.bias", [v.hiddenSize])
        }
        vision("post_layernorm.weight", [v.hiddenSize]); vision("post_layernorm.bias", [v.hiddenSize])

        shapes.append(("multi_modal_projector.linear_1.weight", [t.hiddenSize, v.hiddenSize]))
        if projectorBias { shapes.append(("multi_modal_projector.linear_1.bias", [t.hiddenSize])) }
        shapes.append(("multi_modal_projector.linear_2.weight", [t.hiddenSize, t.hiddenSize]))
        if projectorBias { shapes.append(("multi_modal_projector.linear_2.bias", [t.hiddenSize])) }

        func language(_ name: String, _ shape: [Int]) { shapes.append((LlamaModel<Float>.prefix(name), shape)) }
        language("embed_tokens.weight", [t.vocabSize, t.hiddenSize])
        let qWidth = t.numAttentionHeads * t.headDim, kvWidth = t.numKeyValueHeads * t.headDim
        for i in 0..<t.numHiddenLayers {
            let l = "layers.\(i)."
            for (projection, out, input) in [("q_proj", qWidth, t.hiddenSize), ("k_proj", kvWidth, t.hiddenSize),
                                             ("v_proj", kvWidth, t.hiddenSize), ("o_proj", t.hiddenSize, qWidth)] {
                language(l + "self_attn.\(projection).weight", [out, input])
                if t.attentionBias { language(l + "self_attn.\(projection).bias", [out]) }
            }
            for (projection, out, input) in [("gate_proj", t.intermediateSize, t.hiddenSize), ("up_proj", t.intermediateSize, t.hiddenSize),
                                             ("down_proj", t.hiddenSize, t.intermediateSize)] {
                language(l + "mlp.\(projection).weight", [out, input])
                if t.mlpBias { language(l + "mlp.\(projection).bias", [out]) }
            }
            language(l + "input_layernorm.weight", [t.hiddenSize])
            language(l + "post_attention_layernorm.weight", [t.hiddenSize])
        }
        language("norm.weight", [t.hiddenSize])
        if !tieWordEmbeddings { shapes.append(("language_model.lm_head.weight", [t.vocabSize, t.hiddenSize])) }
        return shapes
    }

    /// Every parameter of the model for a trainable set: base tensors (trainable only in the
    /// full-model mode), LoRA A/B beside each targeted linear, soft prompts.
    public func parameterSpecs(trainable: TrainableSet) throws -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        var pattern: Regex<AnyRegexOutput>?
        if let lora = trainable.lora {
            guard lora.rank > 0 else { throw ConfigError("lora.rank must be positive, got \(lora.rank).") }
            do { pattern = try Regex(lora.targetPattern) } catch {
                throw ConfigError("lora.target_modules '\(lora.targetPattern)' is not a valid regular expression: \(error)")
            }
        }
        var targeted = 0
        for (name, shape) in baseParameterShapes {
            specs.append(ParameterSpec(name, shape, trainable: trainable.fullModel))
            guard let lora = trainable.lora, let pattern, name.hasSuffix(".weight"), shape.count == 2,
                  !name.contains("embed_tokens"), !name.contains("lm_head"), !name.contains("position_embedding") else { continue }
            let module = String(name.dropLast(".weight".count))
            guard (try? pattern.wholeMatch(in: module)) != nil else { continue }
            specs.append(ParameterSpec(module + ".lora_A.weight", [lora.rank, shape[1]], trainable: true))
            specs.append(ParameterSpec(module + ".lora_B.weight", [shape[0], lora.rank], trainable: true))
            targeted += 1
        }
        if let lora = trainable.lora, targeted == 0 {
            throw ConfigError("lora.target_modules '\(lora.targetPattern)' matches no linear layer of this model. Module names look like 'language_model.model.layers.0.self_attn.q_proj'.")
        }
        if let n = trainable.imageSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.image, [n, text.hiddenSize], trainable: true)) }
        if let n = trainable.textSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.text, [n, text.hiddenSize], trainable: true)) }
        return specs
    }
}
