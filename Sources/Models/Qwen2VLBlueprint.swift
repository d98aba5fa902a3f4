import Kernels
import Layers

/// Qwen2-VL's tensors under the hub layout's names (`visual.*`, `model.*`, `lm_head`), in the
/// checkpoint's order: the vision transformer, its patch merger, the Qwen2 decoder.
public struct Qwen2VLBlueprint: Sendable, Equatable {
    public let vision: Qwen2VLVisionBlueprint
    public let merger: Qwen2VLMergerBlueprint
    public let language: DecoderBlueprint

    public init(config: Qwen2VLConfig) {
        vision = Qwen2VLVisionBlueprint(config: config.vision)
        merger = Qwen2VLMergerBlueprint(config: config.vision)
        language = DecoderBlueprint(config: config.text, modulePrefix: "model.", head: "lm_head", qkvBias: true)
    }

    public var description: ModelDescription {
        ModelDescription(vision: vision.tensors, connector: merger.tensors, language: language, keyLayout: .qwen2VL)
    }
}

/// One vision block: LayerNorms, fused qkv attention with an output `proj`, fc1/act/fc2 MLP.
public struct Qwen2VLVisionBlockBlueprint: Sendable, Equatable {
    public let norm1: NormBlueprint
    public let norm2: NormBlueprint
    public let qkv: LinearBlueprint
    public let proj: LinearBlueprint
    public let feedForward: FeedForwardBlueprint

    public var tensors: [TensorBlueprint] { norm1.tensors + norm2.tensors + qkv.tensors + proj.tensors + feedForward.tensors }
}

/// The vision transformer's patch embedding (a Conv3d whose kernel covers each whole patch
/// row: one matrix) and blocks.
public struct Qwen2VLVisionBlueprint: Sendable, Equatable {
    public static let prefix = "visual."
    /// (embed, channels, temporal, patch, patch), read as the (embed, patch row) matrix.
    public let patchEmbedding: TensorBlueprint
    public let blocks: [Qwen2VLVisionBlockBlueprint]
    public let numHeads: Int
    public let headDim: Int

    public init(config v: Qwen2VLVisionConfig) {
        func name(_ suffix: String) -> String { Self.prefix + suffix }
        let width = v.embedDim
        patchEmbedding = TensorBlueprint(name("patch_embed.proj.weight"), [width, v.inChannels, v.temporalPatchSize, v.patchSize, v.patchSize],
                                         use: .linearWeight(loraTargetable: false))
        let activation = ActivationFunction(huggingFaceName: v.hiddenAct)!  // validated when config.json is read
        blocks = (0..<v.depth).map { i in
            let block = "blocks.\(i)."
            func linear(_ module: String, out: Int, in input: Int) -> LinearBlueprint {
                LinearBlueprint(name(block + module), out: out, in: input, bias: true)
            }
            func norm(_ module: String) -> NormBlueprint { NormBlueprint(name(block + module), kind: .layerNorm, dim: width, eps: 1e-6) }
            return Qwen2VLVisionBlockBlueprint(
                norm1: norm("norm1"), norm2: norm("norm2"),
                qkv: linear("attn.qkv", out: 3 * width, in: width), proj: linear("attn.proj", out: width, in: width),
                feedForward: .plain(fc1: linear("mlp.fc1", out: v.mlpWidth, in: width), activation: activation,
                                    fc2: linear("mlp.fc2", out: width, in: v.mlpWidth)))
        }
        numHeads = v.numHeads
        headDim = v.headDim
    }

    public var tensors: [TensorBlueprint] { [patchEmbedding] + blocks.flatMap(\.tensors) }
}

/// The patch merger: LayerNorm over each patch (`ln_q`), then every merge x merge window's
/// patches side by side through mlp.0 -> GELU -> mlp.2 to the LLM's width.
public struct Qwen2VLMergerBlueprint: Sendable, Equatable {
    public let norm: NormBlueprint
    public let mlp: FeedForwardBlueprint

    public init(config v: Qwen2VLVisionConfig) {
        let prefix = Qwen2VLVisionBlueprint.prefix + "merger."
        norm = NormBlueprint(prefix + "ln_q", kind: .layerNorm, dim: v.embedDim, eps: 1e-6)
        let width = v.mergedWidth
        mlp = .plain(fc1: LinearBlueprint(prefix + "mlp.0", out: width, in: width, bias: true), activation: .gelu,
                     fc2: LinearBlueprint(prefix + "mlp.2", out: v.hiddenSize, in: width, bias: true))
    }

    public var tensors: [TensorBlueprint] { norm.tensors + mlp.tensors }
}

extension Qwen2VLConfig {
    /// Every base tensor of the model, described once (Qwen2VLBlueprint).
    public var modelDescription: ModelDescription { Qwen2VLBlueprint(config: self).description }
}
