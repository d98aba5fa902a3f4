import Formats
import Foundation
import Kernels
import Layers
import ModelFiles
import Models

/// Reads an export made by `discern export` (or any PEFT LoRA adapter for the same base, plus
/// optional Discern soft prompts): what `embed --adapters` and `eval --adapters` use.
package struct AdapterImport {
    package var trainable: TrainableSet
    package var templates: PromptTemplates?
    var loraTensors: [String: (shape: [Int], values: [Float])] = [:]
    var softPrompts: [String: (shape: [Int], values: [Float])] = [:]

    /// `keyLayout`: the base model's (ModelDescription.keyLayout), which maps the adapter's module
    /// names (PEFT's for the family, or any layout the family's files use) onto the model's.
    package init(directory: String, keyLayout: WeightKeyLayout) throws {
        let manager = FileManager.default
        trainable = .frozen
        let lora = directory + "/lora", soft = directory + "/soft_prompts"
        guard manager.fileExists(atPath: lora) || manager.fileExists(atPath: soft) else {
            throw ModelConfigError("\(directory): not a Discern export (no lora/ or soft_prompts/ inside). Make one with `discern export`.")
        }
        if manager.fileExists(atPath: lora + "/adapter_config.json") {
            let (rank, alpha) = try Self.loraConfig(lora + "/adapter_config.json")
            let file = try SafetensorsFile(path: lora + "/adapter_model.safetensors")
            var modules: [String] = []
            for key in file.names {
                var name = key.hasPrefix("base_model.model.") ? String(key.dropFirst("base_model.model.".count)) : key
                name = name.replacingOccurrences(of: ".default.", with: ".")
                name = keyLayout.canonical(name)
                guard name.hasSuffix(".lora_A.weight") || name.hasSuffix(".lora_B.weight") else {
                    throw ModelConfigError("\(lora)/adapter_model.safetensors: '\(key)' is not a LoRA A/B tensor.")
                }
                loraTensors[name] = (try file.info(key).shape, try file.floats(key))
                if name.hasSuffix(".lora_A.weight") { modules.append(String(name.dropLast(".lora_A.weight".count))) }
            }
            let pattern = modules.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
            trainable.lora = LoRASettings(rank: rank, alpha: alpha, targetPattern: "(" + pattern + ")")
        }
        if manager.fileExists(atPath: soft + "/soft_prompts.safetensors") {
            let file = try SafetensorsFile(path: soft + "/soft_prompts.safetensors")
            for key in file.names { softPrompts[key] = (try file.info(key).shape, try file.floats(key)) }
            trainable.imageSoftPromptLength = softPrompts["image"]?.shape[0]
            trainable.textSoftPromptLength = softPrompts["text"]?.shape[0]
            let description = try JSONNode.read(path: soft + "/soft_prompts.json").object()
            if let image = description.optional("image_template"), let text = description.optional("text_template") {
                templates = PromptTemplates(image: try image.string(), text: try text.string())
            }
        }
    }

    /// rank and alpha from a PEFT adapter_config.json (strict JSON; what Discern cannot apply is refused).
    static func loraConfig(_ path: String) throws -> (rank: Int, alpha: Double) {
        let config = try JSONNode.read(path: path).object()
        guard let type = config.optional("peft_type"), try type.string() == "LORA" else {
            throw ModelConfigError("\(path): not a PEFT LoRA config (needs peft_type LORA, r, lora_alpha).")
        }
        let rank = try config.integer("r"), alpha = try config.required("lora_alpha").double()
        guard rank > 0 && rank <= 65536 else { throw ModelConfigError("\(path): r is \(rank); it must be a LoRA rank from 1 to 65536.") }
        guard alpha.isFinite && alpha > 0 else { throw ModelConfigError("\(path): lora_alpha is \(alpha); it must be a positive, finite number.") }
        if try config.bool("use_dora", default: false) || config.bool("use_rslora", default: false) {
            throw ModelConfigError("\(path): DoRA and rsLoRA adapters are not supported.")
        }
        return (rank, alpha)
    }

    /// Copies the adapter tensors into a model built with `trainable`.
    package func apply(to model: VisionLanguageModel<Float>) throws {
        for parameter in model.parameters.trainable {
            let source: (shape: [Int], values: [Float])?
            switch parameter.name {
            case SoftPromptName.image: source = softPrompts["image"]
            case SoftPromptName.text: source = softPrompts["text"]
            default: source = loraTensors[parameter.name]
            }
            guard let source, source.shape == parameter.shape else {
                throw ModelConfigError("the adapters have no tensor \(parameter.name) of shape \(parameter.shape) for this base model.")
            }
            parameter.value.update(from: source.values, count: parameter.count)
        }
        // A tensor for a module this model lacks (another family's names, another base) is refused, not dropped.
        let applied = Set(model.parameters.trainable.map(\.name))
        if let stray = loraTensors.keys.sorted().first(where: { !applied.contains($0) }) {
            throw ModelConfigError("the adapters' tensor \(stray) names no linear layer of this base model; export the adapters for this model.")
        }
    }
}
