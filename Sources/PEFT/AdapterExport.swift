import Checkpointing
import Configuration
import Formats
import Foundation
import HDF5Files
import Kernels
import Layers
import ModelFiles
import Models
import Runs
import Training

/// Writes a checkpoint's adapters for Hugging Face tools (docs/export.md):
///   DIR/lora/            PEFT LoRA adapter: adapter_config.json + adapter_model.safetensors
///   DIR/soft_prompts/    soft_prompts.safetensors (image, text) + soft_prompts.json
///   DIR/README.md        how to load both with transformers + PEFT, with a runnable example
///   DIR/merged/          (with merge) a full model directory with LoRA folded into the weights
package struct AdapterExport {
    package let checkpoint: String
    package let modelDirectory: ModelDirectory

    package init(checkpoint: String, modelDirectory: ModelDirectory) {
        self.checkpoint = checkpoint
        self.modelDirectory = modelDirectory
    }

    /// The base model given by its directory's path (configuration and tokenizer checked here).
    package init(checkpoint: String, modelPath: String) throws {
        self.init(checkpoint: checkpoint, modelDirectory: try ModelDirectory(path: modelPath))
    }

    package struct Summary: Sendable {
        package var loraModules: Int
        package var softPrompts: [String]
        package var merged: Bool
    }

    package func write(to output: String, merge: Bool) throws -> Summary {
        let state = try CheckpointFile.read(checkpoint)
        try BaseFingerprint(config: modelDirectory.config).check(state, path: checkpoint, model: modelDirectory.url.path)
        let stored = try RunConfiguration(checkpointYAML: state.configYAML, checkpoint: checkpoint)
        let trainsLoRA = stored.train.trainsLoRA
        let checked = try ExportTensors(state, config: modelDirectory.config, source: checkpoint, expectsLoRA: trainsLoRA,
                                        storedRank: trainsLoRA ? stored.lora.rank : nil)
        let baseNames = Set(modelDirectory.config.modelDescription.names)
        let trainsBase = state.parameters.contains { baseNames.contains($0.name) }
        if trainsBase && !merge {
            throw CheckpointError("\(checkpoint) trains the base model itself (train.mode full): export it with --merge, "
                + "which writes a complete model directory to DIR/merged.")
        }
        let manager = FileManager.default
        // A killed earlier export of the same output left its folder: it goes first.
        removeStaleTemporaries(of: output)
        let temporary = output + ".tmp-\(getpid())"
        try? manager.removeItem(atPath: temporary)
        try manager.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        do {
            let tensors = checked.tensors, loraModules = checked.loraModules
            if let rank = checked.rank {
                try writeLoRA(loraModules, tensors: tensors, rank: rank, lora: stored.lora, into: temporary + "/lora")
            }
            var promptNames: [String] = []
            if tensors[SoftPromptName.image] != nil || tensors[SoftPromptName.text] != nil {
                promptNames = try writeSoftPrompts(tensors: tensors, prompts: stored.prompts, into: temporary + "/soft_prompts")
            }
            if merge {
                try writeMerged(loraModules, tensors: tensors, alpha: stored.lora.alpha, rank: checked.rank ?? 1,
                                into: temporary + "/merged")
            }
            let readme = ExportReadme.text(family: modelDirectory.family, model: modelDirectory.url.path, hasLoRA: !loraModules.isEmpty, hasSoftPrompts: !promptNames.isEmpty,
                                           merged: merge, checkpoint: checkpoint, step: state.step)
            try readme.write(toFile: temporary + "/README.md", atomically: true, encoding: .utf8)
            try ExportReadme.example(family: modelDirectory.family, model: modelDirectory.url.path, hasLoRA: !loraModules.isEmpty, hasSoftPrompts: !promptNames.isEmpty)
                .write(toFile: temporary + "/example.py", atomically: true, encoding: .utf8)
            if manager.fileExists(atPath: output) { try manager.removeItem(atPath: output) }
            try manager.moveItem(atPath: temporary, toPath: output)
            return Summary(loraModules: loraModules.count, softPrompts: promptNames, merged: merge)
        } catch {
            try? manager.removeItem(atPath: temporary)
            throw error
        }
    }

    /// PEFT's file layout, keys `base_model.model.<module>.lora_{A,B}.weight` with the module named
    /// as the family's layout says PEFT loads it (WeightKeyLayout.peftModuleName).
    /// `rank` is the tensors' own (ExportTensors checked every pair), never the stored YAML's.
    func writeLoRA(_ modules: [String], tensors: [String: NamedTensor], rank: Int, lora: RunConfiguration.LoRA, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var writer = SafetensorsWriter()
        let layout = modelDirectory.config.modelDescription.keyLayout
        for module in modules {
            for part in ["lora_A", "lora_B"] {
                let tensor = tensors["\(module).\(part).weight"]!
                try writer.add(Self.adapterKey(module: module, part: part, layout: layout), shape: tensor.shape, floats: tensor.values)
            }
        }
        try writer.write(to: directory + "/adapter_model.safetensors")
        let config = PEFTLoRAConfig(baseModel: modelDirectory.url.path, rank: rank, alpha: lora.alpha, dropout: lora.dropout,
                                    targetModules: Self.targetPattern(modules, layout: layout))
        let data = try JSONOutput.encode(config, style: .document)
        try data.write(to: URL(fileURLWithPath: directory + "/adapter_config.json"))
    }

    /// The adapter file's key of a canonical module's `part` (lora_A or lora_B).
    package static func adapterKey(module: String, part: String, layout: WeightKeyLayout) -> String {
        "base_model.model.\(layout.peftModuleName(module)).\(part).weight"
    }

    /// A regular expression matching exactly the modules that carry LoRA (canonical names), under
    /// every transformers naming of the family (`layout`'s rewrites; PEFT matches it against
    /// module names with re.fullmatch), so the adapter never attaches anywhere it was not trained.
    package static func targetPattern(_ modules: [String], layout: WeightKeyLayout) -> String {
        // Group modules as (prefix before the layer number, set of layer numbers) -> suffixes, so
        // 32 layers x 7 projections read as one alternation per tower.
        var groups: [String: [String: Set<Int>]] = [:]   // prefix -> suffix -> layers
        var plain: [String] = []
        for module in modules {
            let parts = module.split(separator: ".").map(String.init)
            if let index = parts.firstIndex(where: { $0 == "layers" || $0 == "blocks" }), index + 1 < parts.count, let layer = Int(parts[index + 1]) {
                let prefix = parts[...index].joined(separator: "."), suffix = parts[(index + 2)...].joined(separator: ".")
                groups[prefix, default: [:]][suffix, default: []].insert(layer)
            } else {
                plain.append(module)
            }
        }
        func escaped(_ text: String) -> String { layout.modulePattern(escaped: NSRegularExpression.escapedPattern(for: text)) }
        var alternatives: [String] = plain.sorted().map(escaped)
        for (prefix, suffixes) in groups.sorted(by: { $0.key < $1.key }) {
            // Suffixes sharing the same layer set go together.
            var bySet: [[Int]: [String]] = [:]
            for (suffix, layers) in suffixes { bySet[layers.sorted(), default: []].append(suffix) }
            for (layers, names) in bySet.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                let layerPattern = "(" + layers.map(String.init).joined(separator: "|") + ")"
                let suffixPattern = "(" + names.sorted().map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|") + ")"
                alternatives.append(escaped(prefix + ".") + layerPattern + #"\."# + suffixPattern)
            }
        }
        return alternatives.count == 1 ? alternatives[0] : "(" + alternatives.joined(separator: "|") + ")"
    }

    func writeSoftPrompts(tensors: [String: NamedTensor], prompts templates: RunConfiguration.Prompts, into directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var writer = SafetensorsWriter(), names: [String] = []
        let prompts = try modelDirectory.promptBuilder(
            templates: PromptTemplates(templates))
        var description = SoftPromptsDescription(imageTemplate: templates.image, textTemplate: templates.text)
        for (name, key, ids) in [(SoftPromptName.image, "image", prompts.imageSuffixIDs), (SoftPromptName.text, "text", prompts.textSuffixIDs)] {
            guard let tensor = tensors[name] else { continue }
            try writer.add(key, shape: tensor.shape, floats: tensor.values)
            if key == "image" { (description.imageSuffixIDs, description.imageRows) = (ids.map(Int.init), tensor.shape[0]) }
            else { (description.textSuffixIDs, description.textRows) = (ids.map(Int.init), tensor.shape[0]) }
            names.append(key)
        }
        try writer.write(to: directory + "/soft_prompts.safetensors")
        let data = try JSONOutput.encode(description, style: .document)
        try data.write(to: URL(fileURLWithPath: directory + "/soft_prompts.json"))
        return names
    }

    /// The base weights with W + (alpha / r) B A folded in, under the canonical names (LLaVA's
    /// classic layout, Qwen2-VL's hub layout), with the directory's other files beside them
    /// (ModelDirectory.companionFiles): a plain transformers model.
    func writeMerged(_ modules: [String], tensors: [String: NamedTensor], alpha: Double, rank: Int, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let model: VisionLanguageModel<Float> = try modelDirectory.loadModel()
        // A full-model checkpoint (generative pre-training) holds new values of base tensors.
        for (name, tensor) in tensors where model.parameters.contains(name) {
            let parameter = model.parameters[name]
            guard parameter.count == tensor.values.count else { continue }
            parameter.value.update(from: tensor.values, count: parameter.count)
        }
        let scaling = Float(alpha / Double(rank))
        for module in modules {
            let a = tensors["\(module).lora_A.weight"]!, b = tensors["\(module).lora_B.weight"]!
            let weight = model.parameters["\(module).weight"]
            let out = b.shape[0], r = b.shape[1], input = a.shape[1]
            a.values.withUnsafeBufferPointer { pa in b.values.withUnsafeBufferPointer { pb in
                gemm(m: out, n: input, k: r, alpha: scaling, pb.baseAddress!, pa.baseAddress!, beta: 1, weight.value)
            } }
        }
        var writer = SafetensorsWriter()
        for parameter in model.parameters.parameters {
            try writer.add(parameter.name, shape: parameter.shape, floats: UnsafeBufferPointer(start: parameter.value, count: parameter.count))
        }
        try writer.write(to: directory + "/model.safetensors")
        for file in modelDirectory.companionFiles {
            try FileManager.default.copyItem(atPath: modelDirectory.url.appendingPathComponent(file).path, toPath: directory + "/" + file)
        }
    }
}
