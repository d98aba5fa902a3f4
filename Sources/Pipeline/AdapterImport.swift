import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models

/// Reads an export made by `discern export` (or any PEFT LoRA adapter for the same base, plus
/// optional Discern soft prompts): what `embed --adapters` and `eval --adapters` use.
public struct AdapterImport {
    public var trainable: TrainableSet
    public var templates: PromptTemplates?
    var loraTensors: [String: (shape: [Int], values: [Float])] = [:]
    var softPrompts: [String: (shape: [Int], values: [Float])] = [:]

    public init(directory: String) throws {
        let manager = FileManager.default
        trainable = .frozen
        let lora = directory + "/lora", soft = directory + "/soft_prompts"
        guard manager.fileExists(atPath: lora) || manager.fileExists(atPath: soft) else {
            throw ModelConfigError("\(directory): not a Discern export (no lora/ or soft_prompts/ inside). Make one with `discern export`.")
        }
        if manager.fileExists(atPath: lora + "/adapter_config.json") {
            let data = try Data(contentsOf: URL(fileURLWithPath: lora + "/adapter_config.json"))
            guard let config = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  (config["peft_type"] as? String) == "LORA", let rank = config["r"] as? Int,
                  let alpha = (config["lora_alpha"] as? NSNumber)?.doubleValue else {
                throw ModelConfigError("\(lora)/adapter_config.json: not a PEFT LoRA config (needs peft_type LORA, r, lora_alpha).")
            }
            if (config["use_dora"] as? Bool) == true || (config["use_rslora"] as? Bool) == true {
                throw ModelConfigError("\(lora)/adapter_config.json: DoRA and rsLoRA adapters are not supported.")
            }
            let file = try SafetensorsFile(path: lora + "/adapter_model.safetensors")
            var modules: [String] = []
            for key in file.names {
                var name = key.hasPrefix("base_model.model.") ? String(key.dropFirst("base_model.model.".count)) : key
                name = name.replacingOccurrences(of: ".default.", with: ".")
                name = canonicalWeightKey(name)
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
            let data = try Data(contentsOf: URL(fileURLWithPath: soft + "/soft_prompts.json"))
            if let description = try JSONSerialization.jsonObject(with: data) as? [String: Any],
               let image = description["image_template"] as? String, let text = description["text_template"] as? String {
                templates = PromptTemplates(image: image, text: text)
            }
        }
    }

    /// Copies the adapter tensors into a model built with `trainable`.
    public func apply(to model: LlavaModel<Float>) throws {
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
    }
}
