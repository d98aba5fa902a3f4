import Checkpointing
import Foundation
import Models

/// What `discern export` writes, checked against the base model before anything is written:
/// every tensor is a known kind with the shape the base implies, and the LoRA rank comes from
/// the tensors themselves (not from the stored YAML, which may disagree).
struct ExportTensors {
    var tensors: [String: NamedTensor] = [:]
    /// Modules carrying LoRA (the name before ".lora_A.weight"), sorted.
    var loraModules: [String] = []
    /// The one rank of every lora_A / lora_B pair; nil without LoRA.
    var rank: Int?

    static let suffixA = ".lora_A.weight", suffixB = ".lora_B.weight"

    /// `storedRank` is the stored configuration's lora.rank when it trains LoRA: the tensors must
    /// agree with it, or the file is not what `discern train` wrote.
    init(_ state: CheckpointState, config: any VisionLanguageConfig, source: String, expectsLoRA: Bool, storedRank: Int? = nil) throws {
        func fail(_ problem: String) -> CheckpointError {
            CheckpointError("\(source): \(problem); nothing was exported. Export a checkpoint written by `discern train` for this base model.")
        }
        let base = Dictionary(config.modelDescription.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        let promptShape = [config.hiddenSize]
        for tensor in state.parameters {
            guard tensors.updateValue(tensor, forKey: tensor.name) == nil else { throw fail("the tensor \(tensor.name) is listed twice") }
            let name = tensor.name
            if let expected = base[name] {
                guard tensor.shape == expected else { throw fail("\(name) has shape \(tensor.shape), the base model's has \(expected)") }
            } else if name == SoftPromptName.image || name == SoftPromptName.text {
                guard tensor.shape.count == 2, tensor.shape[0] >= 1, Array(tensor.shape.dropFirst()) == promptShape else {
                    throw fail("\(name) has shape \(tensor.shape); soft prompts are (rows, \(config.hiddenSize))")
                }
            } else if name == ObjectiveParameterName.logitScale {
                guard tensor.shape == [1] else { throw fail("\(name) has shape \(tensor.shape), expected [1]") }
            } else if !(name.hasSuffix(Self.suffixA) || name.hasSuffix(Self.suffixB)) {
                throw fail("\(name) is neither a base tensor, a LoRA factor, a soft prompt nor the logit scale")
            }
        }
        try checkLoRA(base: base, fail: fail)
        if expectsLoRA && loraModules.isEmpty { throw fail("the stored configuration trains LoRA (train.lora) but no lora_A tensor is stored") }
        if let storedRank, let rank, storedRank != rank {
            throw fail("the stored configuration says lora.rank \(storedRank) but the LoRA tensors have rank \(rank), so the file is inconsistent")
        }
    }

    /// Pairs every lora_A (r, in) with its lora_B (out, r), (out, in) being the adapted base weight's shape.
    private mutating func checkLoRA(base: [String: [Int]], fail: (String) -> CheckpointError) throws {
        for name in tensors.keys.sorted() where name.hasSuffix(Self.suffixA) || name.hasSuffix(Self.suffixB) {
            let isA = name.hasSuffix(Self.suffixA)
            let module = String(name.dropLast((isA ? Self.suffixA : Self.suffixB).count))
            let partner = module + (isA ? Self.suffixB : Self.suffixA)
            guard let other = tensors[partner] else { throw fail("\(name) has no partner \(partner)") }
            guard let weight = base[module + ".weight"], weight.count == 2 else {
                throw fail("\(name) adapts '\(module)', which is not a linear layer of the base model")
            }
            let a = isA ? tensors[name]! : other, b = isA ? other : tensors[name]!
            let r = a.shape.first ?? 0
            guard r >= 1, a.shape == [r, weight[1]], b.shape == [weight[0], r] else {
                throw fail("\(module): lora_A is \(a.shape) and lora_B \(b.shape); for the base weight \(weight) they must be "
                           + "(r, \(weight[1])) and (\(weight[0]), r)")
            }
            if let rank, rank != r { throw fail("\(module) has LoRA rank \(r) but other modules have \(rank); PEFT needs one rank") }
            rank = r
            if isA { loraModules.append(module) }
        }
    }
}
