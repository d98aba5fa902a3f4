import Kernels
import Layers

/// A Llama-style decoder's tensors (token embeddings, pre-norm layers of grouped-query
/// attention and a gated MLP, a final RMSNorm, an output head unless tied), in the checkpoint's
/// order, under the family's names.
public struct DecoderBlueprint: Sendable, Equatable {
    public let embedTokens: TensorBlueprint         // (vocab, hidden)
    public let layers: [TransformerLayerBlueprint]
    public let finalNorm: NormBlueprint
    /// nil when tied: the head reads embed_tokens.
    public let lmHead: LinearBlueprint?
    /// The head's weight name, which a file of a tied model may still hold.
    public let headWeightName: String

    /// modulePrefix: where the decoder's modules live ("language_model.model." in LLaVA's
    /// classic layout); head: the untied output head's module ("language_model.lm_head");
    /// qkvBias: q, k and v carry biases whatever the config says (Qwen2; o has none).
    public init(config t: LlamaConfig, modulePrefix: String, head: String, qkvBias: Bool = false) {
        func name(_ suffix: String) -> String { modulePrefix + suffix }
        let width = t.hiddenSize
        embedTokens = TensorBlueprint(name("embed_tokens.weight"), [t.vocabSize, width], use: .rowTable)
        let qWidth = t.numAttentionHeads * t.headDim, kvWidth = t.numKeyValueHeads * t.headDim
        layers = (0..<t.numHiddenLayers).map { i in
            let layer = "layers.\(i)."
            func linear(_ module: String, out: Int, in input: Int, bias: Bool) -> LinearBlueprint {
                LinearBlueprint(name(layer + module), out: out, in: input, bias: bias)
            }
            func norm(_ module: String) -> NormBlueprint { NormBlueprint(name(layer + module), kind: .rmsNorm, dim: width, eps: t.rmsNormEps) }
            let attention = AttentionBlueprint(
                q: linear("self_attn.q_proj", out: qWidth, in: width, bias: t.attentionBias || qkvBias),
                k: linear("self_attn.k_proj", out: kvWidth, in: width, bias: t.attentionBias || qkvBias),
                v: linear("self_attn.v_proj", out: kvWidth, in: width, bias: t.attentionBias || qkvBias),
                o: linear("self_attn.o_proj", out: width, in: qWidth, bias: t.attentionBias),
                queryHeads: t.numAttentionHeads, keyValueHeads: t.numKeyValueHeads, headDim: t.headDim, causal: true)
            return TransformerLayerBlueprint(
                norm1: norm("input_layernorm"), attention: attention, norm2: norm("post_attention_layernorm"),
                feedForward: .gated(gate: linear("mlp.gate_proj", out: t.intermediateSize, in: width, bias: t.mlpBias),
                                    up: linear("mlp.up_proj", out: t.intermediateSize, in: width, bias: t.mlpBias),
                                    down: linear("mlp.down_proj", out: width, in: t.intermediateSize, bias: t.mlpBias)))
        }
        finalNorm = NormBlueprint(name("norm"), kind: .rmsNorm, dim: width, eps: t.rmsNormEps)
        // The head is a Linear, but not one LoRA targets (PEFT's default never adapts lm_head).
        headWeightName = head + ".weight"
        lmHead = t.tieWordEmbeddings ? nil : LinearBlueprint(head, out: t.vocabSize, in: width, bias: false, loraTargetable: false)
    }

    /// Embeddings, each layer (attention, MLP, norms), final norm. An untied head comes last in
    /// the whole model's list (after any other tower), so it is not part of this one.
    public var tensors: [TensorBlueprint] {
        var list = [embedTokens]
        for layer in layers {
            list += layer.attention.tensors + layer.feedForward.tensors + layer.norm1.tensors + layer.norm2.tensors
        }
        return list + finalNorm.tensors
    }
}
