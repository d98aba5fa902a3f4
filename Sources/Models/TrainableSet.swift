import Foundation

/// LoRA on the linear layers whose module name fully matches `targetPattern` (PEFT's meaning of
/// a string `target_modules`), with PEFT's scaling alpha / r.
package struct LoRASettings: Sendable, Equatable {
    package var rank: Int
    package var alpha: Double
    package var dropout: Double
    /// A regular expression over module names in Discern's (classic hub) naming.
    package var targetPattern: String

    /// The LLM's seven projections, and nothing in the vision tower or projector.
    package static let defaultTargets =
        #"language_model\.model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"#

    package init(rank: Int = 16, alpha: Double = 16, dropout: Double = 0, targetPattern: String = LoRASettings.defaultTargets) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targetPattern = targetPattern
    }
}

/// Which parameters train.
package struct TrainableSet: Sendable, Equatable {
    /// Every base weight trains (the generative pre-training mode).
    package var fullModel: Bool
    package var lora: LoRASettings?
    /// Soft prompt lengths in tokens (the handcrafted prompt's suffix), nil = no soft prompts.
    package var imageSoftPromptLength: Int?
    package var textSoftPromptLength: Int?
    /// A learnable contrastive logit scale (`logit_scale`, one value, the log of the scale).
    /// It belongs to the training objective, but living in the parameter table puts it in the
    /// same flat vector as every other trainable value: one all-reduce, one optimizer.
    package var logitScale: Bool

    package init(fullModel: Bool = false, lora: LoRASettings? = nil, imageSoftPromptLength: Int? = nil, textSoftPromptLength: Int? = nil,
                logitScale: Bool = false) {
        self.fullModel = fullModel
        self.lora = lora
        self.imageSoftPromptLength = imageSoftPromptLength
        self.textSoftPromptLength = textSoftPromptLength
        self.logitScale = logitScale
    }

    /// Nothing trains: inference.
    package static let frozen = TrainableSet()
}

package enum ObjectiveParameterName {
    package static let logitScale = "logit_scale"
}

package enum SoftPromptName {
    package static let image = "soft_prompts.image"
    package static let text = "soft_prompts.text"
}

/// How a model trades memory for time; neither option changes a single result bit.
package struct ModelMemoryOptions: Sendable, Equatable {
    /// Frozen base weights stored as F16/BF16 stay in their memory-mapped file and are widened per
    /// use instead of being copied to Float (LlavaConfig.mayStayHalf says which tensors).
    package var halfWeights: Bool
    /// Re-run each transformer layer's forward in the backward instead of keeping every layer's
    /// activations (TransformerStack.recompute).
    package var recompute: Bool

    package init(halfWeights: Bool = false, recompute: Bool = false) {
        self.halfWeights = halfWeights
        self.recompute = recompute
    }
}
