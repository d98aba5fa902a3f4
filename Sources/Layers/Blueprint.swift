import Kernels

/// One base tensor as a layer declares it: its Hugging Face name, its shape and how the layer
/// reads it. A model is described by the blueprints it is built from, so strict loading, LoRA
/// targeting, 16-bit storage, checkpoints and export read that one description and never keep
/// a tensor list of their own.
public struct TensorBlueprint: Sendable, Equatable {
    public enum Use: Sendable, Equatable {
        /// A Linear's weight (out, in), read through one GEMM per use. LoRA may adapt it when
        /// the model allows (an output head does not).
        case linearWeight(loraTargetable: Bool)
        /// A table read by rows (token embeddings).
        case rowTable
        /// Read value by value: biases, norm weights, class and position embeddings, patch kernels.
        case elementwise
    }

    public let name: String
    public let shape: [Int]
    public let use: Use

    public init(_ name: String, _ shape: [Int], use: Use = .elementwise) {
        self.name = name
        self.shape = shape
        self.use = use
    }

    public var count: Int { shape.reduce(1, *) }

    /// Whether a LoRA adapter may sit on the linear layer this weight belongs to.
    public var loraTargetable: Bool { use == .linearWeight(loraTargetable: true) }

    /// Whether the frozen tensor may stay in 16-bit storage (a HalfMatrix widened per use): only
    /// tensors read through a GEMM or by rows; value-by-value readers want T values.
    public var mayStayHalf: Bool { use != .elementwise && shape.count == 2 }

    /// The module name PEFT and LoRA settings use: the weight's name without ".weight".
    public var module: String { name.hasSuffix(".weight") ? String(name.dropLast(".weight".count)) : name }
}

/// A linear layer's tensors: `module.weight` (out, in) and, with a bias, `module.bias` (out).
public struct LinearBlueprint: Sendable, Equatable {
    public let module: String
    public let outFeatures: Int
    public let inFeatures: Int
    public let bias: Bool
    public let loraTargetable: Bool

    public init(_ module: String, out: Int, in inFeatures: Int, bias: Bool, loraTargetable: Bool = true) {
        self.module = module
        outFeatures = out
        self.inFeatures = inFeatures
        self.bias = bias
        self.loraTargetable = loraTargetable
    }

    public var tensors: [TensorBlueprint] {
        let weight = TensorBlueprint(module + ".weight", [outFeatures, inFeatures], use: .linearWeight(loraTargetable: loraTargetable))
        return bias ? [weight, TensorBlueprint(module + ".bias", [outFeatures])] : [weight]
    }
}

/// A LayerNorm (`module.weight`, `module.bias`) or RMSNorm (`module.weight`) over `dim` values.
public struct NormBlueprint: Sendable, Equatable {
    public let module: String
    public let kind: NormKind
    public let dim: Int
    public let eps: Double

    public init(_ module: String, kind: NormKind, dim: Int, eps: Double) {
        self.module = module
        self.kind = kind
        self.dim = dim
        self.eps = eps
    }

    public var tensors: [TensorBlueprint] {
        let weight = TensorBlueprint(module + ".weight", [dim])
        return kind == .layerNorm ? [weight, TensorBlueprint(module + ".bias", [dim])] : [weight]
    }
}

/// Self-attention's projections and head layout.
public struct AttentionBlueprint: Sendable, Equatable {
    public let q: LinearBlueprint, k: LinearBlueprint, v: LinearBlueprint, o: LinearBlueprint
    public let queryHeads: Int
    public let keyValueHeads: Int
    public let headDim: Int
    /// Query i sees keys j <= i only (a decoder); false for a vision encoder.
    public let causal: Bool

    public init(q: LinearBlueprint, k: LinearBlueprint, v: LinearBlueprint, o: LinearBlueprint,
                queryHeads: Int, keyValueHeads: Int, headDim: Int, causal: Bool) {
        self.q = q; self.k = k; self.v = v; self.o = o
        self.queryHeads = queryHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.causal = causal
    }

    public var tensors: [TensorBlueprint] { [q, k, v, o].flatMap(\.tensors) }
}

/// A transformer layer's MLP: fc1 -> activation -> fc2, or down(silu(gate) * up).
public enum FeedForwardBlueprint: Sendable, Equatable {
    case plain(fc1: LinearBlueprint, activation: ActivationFunction, fc2: LinearBlueprint)
    case gated(gate: LinearBlueprint, up: LinearBlueprint, down: LinearBlueprint)

    public var tensors: [TensorBlueprint] {
        switch self {
        case .plain(let fc1, _, let fc2): return fc1.tensors + fc2.tensors
        case .gated(let gate, let up, let down): return gate.tensors + up.tensors + down.tensors
        }
    }
}

/// A pre-norm transformer layer. Families list its tensors in their own checkpoint order, so
/// `tensors` is left to the model's blueprint (which concatenates these parts).
public struct TransformerLayerBlueprint: Sendable, Equatable {
    public let norm1: NormBlueprint
    public let attention: AttentionBlueprint
    public let norm2: NormBlueprint
    public let feedForward: FeedForwardBlueprint

    public init(norm1: NormBlueprint, attention: AttentionBlueprint, norm2: NormBlueprint, feedForward: FeedForwardBlueprint) {
        self.norm1 = norm1
        self.attention = attention
        self.norm2 = norm2
        self.feedForward = feedForward
    }
}
