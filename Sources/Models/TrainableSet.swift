import Layers
import Foundation

/// LoRA on the linear layers whose module name fully matches `targetPattern` (PEFT's meaning of
/// a string `target_modules`), with PEFT's scaling alpha / r.
public struct LoRASettings: Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    /// A regular expression over module names in the family's naming (docs/model.md: LLaVA's
    /// classic hub layout, Qwen2-VL's hub layout).
    public var targetPattern: String

    /// The LLM's seven projections, and nothing in the vision encoder or connector, in either
    /// family: LLaVA's `language_model.model.layers.N...` and Qwen2-VL's `model.layers.N...`.
    public static let defaultTargets =
        #"(language_model\.)?model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"#

    public init(rank: Int = 16, alpha: Double = 16, dropout: Double = 0, targetPattern: String = LoRASettings.defaultTargets) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetPattern = targetPattern
    }
}

/// Which parameters train.
public struct TrainableSet: Sendable, Equatable {
    /// Every base weight trains (the generative pre-training mode).
    public var fullModel: Bool
    public var lora: LoRASettings?
    /// Soft prompt lengths in tokens (the handcrafted prompt's suffix), nil = no soft prompts.
    public var imageSoftPromptLength: Int?
    public var textSoftPromptLength: Int?
    /// A learnable contrastive logit scale (`logit_scale`, one value, the log of the scale).
    /// It belongs to the training objective, but living in the parameter table puts it in the
    /// same flat vector as every other trainable value: one all-reduce, one optimizer.
    public var logitScale: Bool

    public init(fullModel: Bool = false, lora: LoRASettings? = nil, imageSoftPromptLength: Int? = nil, textSoftPromptLength: Int? = nil,
                logitScale: Bool = false) {
        self.fullModel = fullModel
        self.lora = lora
        self.imageSoftPromptLength = imageSoftPromptLength
        self.textSoftPromptLength = textSoftPromptLength
        self.logitScale = logitScale
    }

    /// Nothing trains: inference.
    public static let frozen = TrainableSet()
}

public enum ObjectiveParameterName {
    public static let logitScale = "logit_scale"
}

public enum SoftPromptName {
    public static let image = "soft_prompts.image"
    public static let text = "soft_prompts.text"
}

/// How a model trades memory for time, and the precision of its products with frozen weights.
/// halfWeights and recompute change no result bit; compute bf16 does (ComputePrecision).
public struct ModelMemoryOptions: Sendable, Equatable {
    /// Frozen base weights stored as F16/BF16 stay in their memory-mapped file and are widened per
    /// use instead of being copied to Float (TensorBlueprint.mayStayHalf says which tensors).
    public var halfWeights: Bool
    /// Re-run each transformer layer's forward in the backward instead of keeping every layer's
    /// activations (TransformerStack.recompute).
    public var recompute: Bool
    /// bf16: every frozen tensor that may stay 16-bit is held as bf16 (in place when the file
    /// stores it so, else converted once at load), whatever halfWeights says, and the Linear
    /// layers over them run bf16 GEMMs.
    public var compute: ComputePrecision

    public init(halfWeights: Bool = false, recompute: Bool = false, compute: ComputePrecision = .fp32) {
        self.halfWeights = halfWeights
        self.recompute = recompute
        self.compute = compute
    }
}
