import Kernels
import Layers

/// CLIP's vision transformer's tensors, named as LLaVA's classic hub layout stores them
/// (`vision_tower.vision_model.*`), in the checkpoint's order. All layers are listed (strict
/// loading wants them), even those past `vision_feature_layer`, which never run.
public struct CLIPVisionBlueprint: Sendable, Equatable {
    public static let prefix = "vision_tower.vision_model."
    public let classEmbedding: TensorBlueprint      // (hidden)
    public let patchEmbedding: TensorBlueprint      // (hidden, channels, patch, patch)
    public let positionEmbedding: TensorBlueprint   // (numPatches + 1, hidden)
    public let preNorm: NormBlueprint
    public let layers: [TransformerLayerBlueprint]
    public let postNorm: NormBlueprint

    public init(config v: CLIPVisionConfig) {
        func name(_ suffix: String) -> String { Self.prefix + suffix }
        let width = v.hiddenSize
        classEmbedding = TensorBlueprint(name("embeddings.class_embedding"), [width])
        patchEmbedding = TensorBlueprint(name("embeddings.patch_embedding.weight"), [width, v.numChannels, v.patchSize, v.patchSize])
        positionEmbedding = TensorBlueprint(name("embeddings.position_embedding.weight"), [v.numPatches + 1, width])
        func norm(_ module: String) -> NormBlueprint { NormBlueprint(name(module), kind: .layerNorm, dim: width, eps: v.layerNormEps) }
        preNorm = norm("pre_layrnorm")
        postNorm = norm("post_layernorm")
        let activation = ActivationFunction(huggingFaceName: v.hiddenAct)!  // validated when config.json is read
        layers = (0..<v.numHiddenLayers).map { i in
            let layer = "encoder.layers.\(i)."
            func linear(_ module: String, out: Int, in input: Int) -> LinearBlueprint {
                LinearBlueprint(name(layer + module), out: out, in: input, bias: true)
            }
            let attention = AttentionBlueprint(
                q: linear("self_attn.q_proj", out: width, in: width), k: linear("self_attn.k_proj", out: width, in: width),
                v: linear("self_attn.v_proj", out: width, in: width), o: linear("self_attn.out_proj", out: width, in: width),
                queryHeads: v.numAttentionHeads, keyValueHeads: v.numAttentionHeads, headDim: v.headDim, causal: false)
            return TransformerLayerBlueprint(
                norm1: norm(layer + "layer_norm1"), attention: attention, norm2: norm(layer + "layer_norm2"),
                feedForward: .plain(fc1: linear("mlp.fc1", out: v.intermediateSize, in: width), activation: activation,
                                    fc2: linear("mlp.fc2", out: width, in: v.intermediateSize)))
        }
    }

    /// The checkpoint's order: embeddings, pre-norm, each layer (attention, norms, MLP), post-norm.
    public var tensors: [TensorBlueprint] {
        var list = [classEmbedding, patchEmbedding, positionEmbedding] + preNorm.tensors
        for layer in layers {
            list += layer.attention.tensors + layer.norm1.tensors + layer.norm2.tensors + layer.feedForward.tensors
        }
        return list + postNorm.tensors
    }
}
