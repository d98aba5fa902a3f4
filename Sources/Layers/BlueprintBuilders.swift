import Kernels

/// How the LoRA adapters a parameter table holds behave: PEFT's alpha and dropout. Which
/// modules carry one is decided when the table is made (an adapter is there or not).
public struct LoRABehaviour: Sendable, Equatable {
    public var alpha: Double
    public var dropout: Double

    public init(alpha: Double = 1, dropout: Double = 0) {
        self.alpha = alpha
        self.dropout = dropout
    }

    /// The adapter tensors' names beside a linear module, as PEFT names them (adapter name dropped).
    public static func adapterNames(module: String) -> (a: String, b: String) { (module + ".lora_A.weight", module + ".lora_B.weight") }
}

extension Linear {
    /// The linear layer of `blueprint`, reading its tensors (and its LoRA A/B, when the table has
    /// them) from `parameters`.
    public convenience init(_ blueprint: LinearBlueprint, parameters p: ParameterTable<T>, lora behaviour: LoRABehaviour) {
        let names = LoRABehaviour.adapterNames(module: blueprint.module)
        let lora = p.contains(names.a) ? LoRA(a: p[names.a], b: p[names.b], alpha: behaviour.alpha, dropout: behaviour.dropout) : nil
        self.init(weight: p[blueprint.module + ".weight"], bias: blueprint.bias ? p[blueprint.module + ".bias"] : nil, lora: lora)
    }
}

extension Norm {
    public convenience init(_ blueprint: NormBlueprint, parameters p: ParameterTable<T>) {
        self.init(kind: blueprint.kind, weight: p[blueprint.module + ".weight"],
                  bias: blueprint.kind == .layerNorm ? p[blueprint.module + ".bias"] : nil, eps: blueprint.eps)
    }
}

extension SelfAttention {
    public convenience init(_ blueprint: AttentionBlueprint, parameters p: ParameterTable<T>, lora: LoRABehaviour, rotary: RotaryTable<T>?) {
        func linear(_ b: LinearBlueprint) -> Linear<T> { Linear(b, parameters: p, lora: lora) }
        self.init(q: linear(blueprint.q), k: linear(blueprint.k), v: linear(blueprint.v), o: linear(blueprint.o),
                  queryHeads: blueprint.queryHeads, keyValueHeads: blueprint.keyValueHeads, headDim: blueprint.headDim,
                  causal: blueprint.causal, rotary: rotary)
    }
}

extension FeedForward {
    public convenience init(_ blueprint: FeedForwardBlueprint, parameters p: ParameterTable<T>, lora: LoRABehaviour) {
        func linear(_ b: LinearBlueprint) -> Linear<T> { Linear(b, parameters: p, lora: lora) }
        switch blueprint {
        case .plain(let fc1, let activation, let fc2):
            self.init(.plain(fc1: linear(fc1), activation: activation, fc2: linear(fc2)))
        case .gated(let gate, let up, let down):
            self.init(.gated(gate: linear(gate), up: linear(up), down: linear(down)))
        }
    }
}

extension TransformerLayer {
    public convenience init(_ blueprint: TransformerLayerBlueprint, parameters p: ParameterTable<T>, lora: LoRABehaviour,
                            rotary: RotaryTable<T>?) {
        self.init(norm1: Norm(blueprint.norm1, parameters: p),
                  attention: SelfAttention(blueprint.attention, parameters: p, lora: lora, rotary: rotary),
                  norm2: Norm(blueprint.norm2, parameters: p),
                  feedForward: FeedForward(blueprint.feedForward, parameters: p, lora: lora))
    }
}

extension ParameterTable {
    /// Whether anything among `tensors` trains: one of them, or a LoRA adapter beside one. A
    /// part of the model for which this is false needs no backward.
    public func trainsAny(of tensors: [TensorBlueprint]) -> Bool {
        tensors.contains { self[$0.name].trainable || contains(LoRABehaviour.adapterNames(module: $0.module).a) }
    }
}
