import Foundation
import Layers

extension LlavaConfig {
    /// The base model's tensors, named and shaped as the classic hub layout stores them.
    public var baseParameterShapes: [(name: String, shape: [Int])] {
        var shapes: [(String, [Int])] = []
        let v = vision, t = text
        func visionTensor(_ name: String, _ shape: [Int]) { shapes.append((CLIPVisionTower<Float>.prefix(name), shape)) }
        visionTensor("embeddings.class_embedding", [v.hiddenSize])
        visionTensor("embeddings.patch_embedding.weight", [v.hiddenSize, v.numChannels, v.patchSize, v.patchSize])
        visionTensor("embeddings.position_embedding.weight", [v.numPatches + 1, v.hiddenSize])
        visionTensor("pre_layrnorm.weight", [v.hiddenSize]); visionTensor("pre_layrnorm.bias", [v.hiddenSize])
        for i in 0..<v.numHiddenLayers {
            let l = "encoder.layers.\(i)."
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                visionTensor(l + "self_attn.\(projection).weight", [v.hiddenSize, v.hiddenSize])
                visionTensor(l + "self_attn.\(projection).bias", [v.hiddenSize])
            }
            for norm in ["layer_norm1", "layer_norm2"] {
                visionTensor(l + norm + ".weight", [v.hiddenSize]); visionTensor(l + norm + ".bias", [v.hiddenSize])
            }
            visionTensor(l + "mlp.fc1.weight", [v.intermediateSize, v.hiddenSize]); visionTensor(l + "mlp.fc1.bias", [v.intermediateSize])
            visionTensor(l + "mlp.fc2.weight", [v.hiddenSize, v.intermediateSize]); visionTensor(l + "mlp.fc2.bias", [v.hiddenSize])
        }
        visionTensor("post_layernorm.weight", [v.hiddenSize]); visionTensor("post_layernorm.bias", [v.hiddenSize])

        shapes.append(("multi_modal_projector.linear_1.weight", [t.hiddenSize, v.hiddenSize]))
        if projectorBias { shapes.append(("multi_modal_projector.linear_1.bias", [t.hiddenSize])) }
        shapes.append(("multi_modal_projector.linear_2.weight", [t.hiddenSize, t.hiddenSize]))
        if projectorBias { shapes.append(("multi_modal_projector.linear_2.bias", [t.hiddenSize])) }

        func languageTensor(_ name: String, _ shape: [Int]) { shapes.append((LlamaModel<Float>.prefix(name), shape)) }
        languageTensor("embed_tokens.weight", [t.vocabSize, t.hiddenSize])
        let qWidth = t.numAttentionHeads * t.headDim, kvWidth = t.numKeyValueHeads * t.headDim
        for i in 0..<t.numHiddenLayers {
            let l = "layers.\(i)."
            for (projection, out, input) in [("q_proj", qWidth, t.hiddenSize), ("k_proj", kvWidth, t.hiddenSize),
                                             ("v_proj", kvWidth, t.hiddenSize), ("o_proj", t.hiddenSize, qWidth)] {
                languageTensor(l + "self_attn.\(projection).weight", [out, input])
                if t.attentionBias { languageTensor(l + "self_attn.\(projection).bias", [out]) }
            }
            for (projection, out, input) in [("gate_proj", t.intermediateSize, t.hiddenSize), ("up_proj", t.intermediateSize, t.hiddenSize),
                                             ("down_proj", t.hiddenSize, t.intermediateSize)] {
                languageTensor(l + "mlp.\(projection).weight", [out, input])
                if t.mlpBias { languageTensor(l + "mlp.\(projection).bias", [out]) }
            }
            languageTensor(l + "input_layernorm.weight", [t.hiddenSize])
            languageTensor(l + "post_attention_layernorm.weight", [t.hiddenSize])
        }
        languageTensor("norm.weight", [t.hiddenSize])
        if !tieWordEmbeddings { shapes.append(("language_model.lm_head.weight", [t.vocabSize, t.hiddenSize])) }
        return shapes
    }

    /// Whether a frozen base tensor may stay in 16-bit storage (a HalfMatrix): the tensors the
    /// model reads only through a Linear (one GEMM per use) or by rows (embed_tokens), i.e. every
    /// 2-D weight but the position embedding, which is added element by element.
    public static func mayStayHalf(name: String, shape: [Int]) -> Bool {
        shape.count == 2 && name.hasSuffix(".weight") && !name.contains("position_embedding")
    }

    /// Every parameter of the model for a trainable set: base tensors (trainable only in the
    /// full-model mode), LoRA A/B beside each targeted linear, soft prompts.
    public func parameterSpecs(trainable: TrainableSet) throws -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        var pattern: Regex<AnyRegexOutput>?
        if let lora = trainable.lora {
            guard lora.rank > 0 else { throw ModelConfigError("lora.rank must be positive, got \(lora.rank).") }
            do { pattern = try Regex(lora.targetPattern) } catch {
                throw ModelConfigError("lora.target_modules '\(lora.targetPattern)' is not a valid regular expression: \(error)")
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
            throw ModelConfigError("lora.target_modules '\(lora.targetPattern)' matches no linear layer of this model. Module names look like 'language_model.model.layers.0.self_attn.q_proj'.")
        }
        if let n = trainable.imageSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.image, [n, text.hiddenSize], trainable: true)) }
        if let n = trainable.textSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.text, [n, text.hiddenSize], trainable: true)) }
        if trainable.logitScale { specs.append(ParameterSpec(ObjectiveParameterName.logitScale, [1], trainable: true)) }
        return specs
    }
}
