import Foundation
import Layers

/// Which part of a vision-language model a tensor belongs to.
public enum ModelPart: String, Sendable, Equatable, CaseIterable {
    /// The vision encoder (CLIP, Qwen2-VL's ViT).
    case vision
    /// What maps vision features to the LLM's width (LLaVA's projector, Qwen2-VL's merger).
    case connector
    /// The language decoder, its embeddings and output head.
    case language
}

/// A model's base tensors, described once by the blueprints the model is built from: strict
/// loading, LoRA targeting, 16-bit storage, fingerprints, checkpoints and export all read this.
public struct ModelDescription: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public let tensor: TensorBlueprint
        public let part: ModelPart
    }

    /// In checkpoint order (the order the parameter table lays them out).
    public private(set) var entries: [Entry] = []
    /// Tensors a weight file may hold that the model does not read: a head tied to the token
    /// embeddings may still be written out, and transformers ignores it on load, so strict
    /// loading does too.
    public var ignoredTensors: Set<String> = []
    /// How the family's files name tensors (its layouts mapped onto the names above).
    public let keyLayout: WeightKeyLayout

    public init(keyLayout: WeightKeyLayout = .llava) { self.keyLayout = keyLayout }

    /// A vision-language model's description in the hub's order: vision encoder, connector,
    /// decoder, then the untied head (a tied head's tensor may sit in the file, unread).
    public init(vision: [TensorBlueprint], connector: [TensorBlueprint], language: DecoderBlueprint, keyLayout: WeightKeyLayout) {
        self.init(keyLayout: keyLayout)
        append(vision, part: .vision)
        append(connector, part: .connector)
        append(language.tensors + (language.lmHead?.tensors ?? []), part: .language)
        if language.lmHead == nil { ignoredTensors = [language.headWeightName] }
    }

    public mutating func append(_ tensors: [TensorBlueprint], part: ModelPart) {
        entries += tensors.map { Entry(tensor: $0, part: part) }
    }

    public var tensors: [TensorBlueprint] { entries.map(\.tensor) }
    public var names: [String] { entries.map(\.tensor.name) }

    /// Parameters per part (every tensor counted, used or not).
    public func parameterCount(_ part: ModelPart) -> Int {
        entries.filter { $0.part == part }.reduce(0) { $0 + $1.tensor.count }
    }

    public var parameterCount: Int { entries.reduce(0) { $0 + $1.tensor.count } }

    /// The base tensors a model with `trainable` may hold as 16-bit matrices (memory.half_weights,
    /// memory.compute bf16): frozen ones that the description lets stay 16-bit
    /// (TensorBlueprint.mayStayHalf), empty ones left out.
    public func halfCandidates(trainable: TrainableSet) -> [TensorBlueprint] {
        // Base tensors train only in the full-model mode (parameterSpecs).
        trainable.fullModel ? [] : tensors.filter { $0.mayStayHalf && $0.count > 0 }
    }

    /// Every parameter of the model for a trainable set: base tensors (trainable only in the
    /// full-model mode), LoRA A/B beside each targeted linear, soft prompts of `hidden` width,
    /// the logit scale.
    public func parameterSpecs(trainable: TrainableSet, hidden: Int) throws -> [ParameterSpec] {
        var specs: [ParameterSpec] = []
        let pattern = try trainable.lora.map { try Self.targetPattern($0) }
        var targeted = 0
        for tensor in tensors {
            specs.append(ParameterSpec(tensor.name, tensor.shape, trainable: trainable.fullModel))
            guard let lora = trainable.lora, let pattern, tensor.loraTargetable,
                  (try? pattern.wholeMatch(in: tensor.module)) != nil else { continue }
            let names = LoRABehaviour.adapterNames(module: tensor.module)
            specs.append(ParameterSpec(names.a, [lora.rank, tensor.shape[1]], trainable: true))
            specs.append(ParameterSpec(names.b, [tensor.shape[0], lora.rank], trainable: true))
            targeted += 1
        }
        if let lora = trainable.lora, targeted == 0 {
            let linears = entries.filter(\.tensor.loraTargetable)
            let example = (linears.first { $0.part == .language } ?? linears.first).map { " Module names look like '\($0.tensor.module)'." } ?? ""
            throw ModelConfigError("lora.target_modules '\(lora.targetPattern)' matches no linear layer of this model.\(example)")
        }
        if let n = trainable.imageSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.image, [n, hidden], trainable: true)) }
        if let n = trainable.textSoftPromptLength { specs.append(ParameterSpec(SoftPromptName.text, [n, hidden], trainable: true)) }
        if trainable.logitScale { specs.append(ParameterSpec(ObjectiveParameterName.logitScale, [1], trainable: true)) }
        return specs
    }

    static func targetPattern(_ lora: LoRASettings) throws -> Regex<AnyRegexOutput> {
        guard lora.rank > 0 else { throw ModelConfigError("lora.rank must be positive, got \(lora.rank).") }
        do { return try Regex(lora.targetPattern) } catch {
            throw ModelConfigError("lora.target_modules '\(lora.targetPattern)' is not a valid regular expression: \(error)")
        }
    }
}
