import Foundation
import Images
import Formats
import Kernels
import Layers
import Models

/// The model families a directory's config.json may name (its `model_type`), each with what
/// its own files say.
package enum ModelFamily: Sendable {
    case llava(LlavaConfig)
    /// With its image processor's settings (preprocessor_config.json).
    case qwen2VL(Qwen2VLConfig, images: Qwen2VLImageSettings)

    package var config: any VisionLanguageConfig {
        switch self {
        case .llava(let config): return config
        case .qwen2VL(let config, _): return config
        }
    }

    /// Reads config.json (and the family's other files) of the directory at `url`.
    static func load(directory url: URL) throws -> ModelFamily {
        let file = url.appendingPathComponent("config.json").path
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelConfigError("\(file): not found. A model directory needs config.json (a Hugging Face LLaVA or Qwen2-VL layout).")
        }
        let bytes = try readFileBytes(file)
        let modelType = try JSONNode.parse(bytes, file: file).object().optional("model_type")?.string() ?? "llava"
        switch modelType {
        case "llava":
            return .llava(try LlavaConfig.parse(bytes, source: file))
        case "qwen2_vl":
            var config = try Qwen2VLConfig.parse(bytes, source: file)
            let images = try Qwen2VLImageSettings.load(directory: url)
            try images.check(against: config, source: url.appendingPathComponent("preprocessor_config.json").path)
            config.maxPixels = images.maxPixels
            return .qwen2VL(config, images: images)
        default:
            throw ModelConfigError("\(file): model_type is '\(modelType)'; Discern loads LLaVA (\"llava\") and Qwen2-VL (\"qwen2_vl\") models.")
        }
    }
}

/// A Hugging Face model directory on disk: config.json, tokenizer.json and weights
/// (model.safetensors or a sharded index), plus preprocessor_config.json for Qwen2-VL.
package struct ModelDirectory: Sendable {
    package let url: URL
    package let family: ModelFamily
    package var config: any VisionLanguageConfig { family.config }
    /// The LLaVA config, for what only LLaVA supports so far (fixed-size training images, the benchmark model).
    package var llava: LlavaConfig? {
        if case .llava(let config) = family { return config }
        return nil
    }

    package init(path: String) throws {
        url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelConfigError("\(path): no such model directory. Pass a Hugging Face LLaVA or Qwen2-VL directory (config.json, tokenizer.json, model.safetensors), e.g. one made by `discern init-model`.")
        }
        family = try ModelFamily.load(directory: url)
    }

    /// The files besides the weights that a copy of this model needs (a merged export), present
    /// here: what the family reads, then the hub's optional tokenizer and generation files.
    package var companionFiles: [String] {
        var required = ["config.json", "tokenizer.json"]
        if case .qwen2VL = family { required.append("preprocessor_config.json") }
        let optional = ["tokenizer_config.json", "special_tokens_map.json", "chat_template.json", "chat_template.jinja", "generation_config.json"]
        return required + optional.filter { FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
    }

    /// The directory's tokenizer.json, checked against config.json: every id it can produce
    /// must index the embedding table (the `<image>` placeholder excepted, see LlavaConfig).
    package func tokenizer() throws -> Tokenizer {
        let file = url.appendingPathComponent("tokenizer.json").path
        guard FileManager.default.fileExists(atPath: file) else {
            throw ModelConfigError("\(file): not found. The model directory needs the tokenizer.json its model was trained with.")
        }
        let vocabulary = config.vocabularySize, imageToken = config.imageTokenID
        // The placeholder may sit just past the vocabulary; decode keeps a slot per id, so the
        // limit never exceeds what a real tokenizer needs.
        let placeholderLimit = imageToken >= vocabulary ? min(imageToken, vocabulary + 65536) + 1 : 0
        let tokenizer = try Tokenizer(path: file, idLimit: min(max(vocabulary, placeholderLimit), Tokenizer.defaultIDLimit))
        if let (token, id) = tokenizer.firstToken(where: { $0 >= vocabulary && $0 != imageToken }) {
            throw ModelConfigError("\(file): token \(token) has id \(id), outside the model's vocabulary (vocab_size \(vocabulary) in config.json, ids 0 to \(vocabulary - 1)). The tokenizer does not belong to this model; use the tokenizer.json it was trained with.")
        }
        return tokenizer
    }

    /// The prompt assembly for this model: its tokenizer, image markup and token, EOS and sizes.
    package func promptBuilder(templates: PromptTemplates = PromptTemplates()) throws -> PromptBuilder {
        try PromptBuilder(encoder: try tokenizer(), templates: templates, imageTokenID: config.imageTokenID,
                          eosTokenID: config.eosTokenID, imageTokens: llava?.imageTokensPerImage ?? 0,
                          maxPositions: config.maxPositions, imageMarkup: config.imageMarkup)
    }

    /// A model with this directory's weights and `trainable`'s adapters (LoRA A/B, soft prompts
    /// zero-initialised: call `initializeAdapters`). With `memory.halfWeights`, every frozen tensor
    /// that the model's description lets stay 16-bit (TensorBlueprint.mayStayHalf) and the file stores as F16/BF16 stays in the mapped
    /// file (the model keeps the mapping alive) and is widened per use; the rest is widened now.
    /// With `memory.compute` bf16, every such tensor is held as bf16 instead: BF16 in place in the
    /// mapped file, any other dtype converted once now (halfWeights does not matter then).
    package func loadModel<T: KernelScalar>(trainable: TrainableSet = .frozen, memory: ModelMemoryOptions = ModelMemoryOptions(),
                                           as: T.Type = T.self) throws -> VisionLanguageModel<T> {
        // 16-bit weights take 2 bytes a value: the bound stays a lower bound.
        try config.checkMemoryFits(bytesPerValue: memory.halfWeights || memory.compute == .bf16 ? 2 : MemoryLayout<T>.size,
                                   source: url.appendingPathComponent("config.json").path)
        return try VisionLanguageModel<T>(config: config, weights: try SafetensorsShards.openWeights(inDirectory: url.path),
                                          trainable: trainable, memory: memory)
    }
}

extension VisionLanguageModel {
    /// A model of `config` with the base weights of `weights` (strictly matched), held as
    /// `memory` says (ModelDescription.heldHalfWeights), and `trainable`'s adapters zeroed.
    package convenience init(config: any VisionLanguageConfig, weights: any TensorSource, trainable: TrainableSet,
                             memory: ModelMemoryOptions) throws {
        let description = config.modelDescription
        let keys = try description.matchBaseWeights(in: weights)
        let half = try description.heldHalfWeights(in: weights, keys: keys, trainable: trainable, memory: memory)
        try self.init(config: config, trainable: trainable, halfWeights: half, recompute: memory.recompute, compute: memory.compute)
        try loadBaseWeights(from: weights, keys: keys)
    }
}

extension ModelDescription {
    /// The frozen tensors (by canonical name) the model holds as 16-bit matrices under `memory`:
    /// with halfWeights, those the file stores as F16/BF16, in place; with compute bf16, all of
    /// them as bf16. Only tensors the description lets stay 16-bit (TensorBlueprint.mayStayHalf).
    ///   keys: canonical name -> file key (matchBaseWeights)
    package func heldHalfWeights(in weights: any TensorSource, keys: [String: String], trainable: TrainableSet,
                                 memory: ModelMemoryOptions) throws -> [String: HalfMatrix] {
        guard memory.halfWeights || memory.compute == .bf16 else { return [:] }
        var half: [String: HalfMatrix] = [:]
        for tensor in halfCandidates(trainable: trainable) {
            guard let key = keys[tensor.name] else { continue }
            let matrix = memory.compute == .bf16 ? try bfloat16Matrix(key, in: weights, tensor: tensor)
                                                 : try mappedHalfMatrix(key, in: weights, tensor: tensor)
            if let matrix { half[tensor.name] = matrix }
        }
        return half
    }

    /// The tensor in place in the mapped file when it is F16 or BF16; nil (widen it now) otherwise.
    private func mappedHalfMatrix(_ key: String, in weights: any TensorSource, tensor: TensorBlueprint) throws -> HalfMatrix? {
        let format: HalfFormat
        switch try weights.info(key).dtype {
        case .F16: format = .float16
        case .BF16: format = .bfloat16
        default: return nil
        }
        guard let bytes = try weights.rawBytes(key).baseAddress else { return nil }
        return HalfMatrix(bytes: bytes, format: format, rows: tensor.shape[0], columns: tensor.shape[1], owner: weights)
    }

    /// The tensor as bf16 for bf16 compute: in place when the file stores it as BF16 at an even
    /// address, else converted once into storage the model owns.
    private func bfloat16Matrix(_ key: String, in weights: any TensorSource, tensor: TensorBlueprint) throws -> HalfMatrix {
        if let mapped = try mappedHalfMatrix(key, in: weights, tensor: tensor), mapped.alignedBFloat16 != nil { return mapped }
        let storage = OwnedBFloat16Storage(count: tensor.count)
        try weights.copyAsBFloat16(key, into: storage.pointer, count: tensor.count)
        return storage.matrix(rows: tensor.shape[0], columns: tensor.shape[1])
    }
}

extension Tokenizer: TextEncoding {
    package func encodeIDs(_ text: String, addSpecialTokens: Bool) throws -> [Int32] {
        encode(text, addSpecialTokens: addSpecialTokens)
    }
}

/// A weight file that does not fit the model, listing every problem at once.
package struct WeightMismatchError: Error, CustomStringConvertible {
    package let file: String
    package let missing: [String]
    package let unexpected: [String]
    package let misshaped: [String]

    package var description: String {
        var lines = ["\(file): the weights do not match config.json:"]
        func list(_ title: String, _ names: [String]) {
            guard !names.isEmpty else { return }
            lines.append("  \(title) (\(names.count)):")
            lines += names.prefix(20).map { "    \($0)" }
            if names.count > 20 { lines.append("    ... and \(names.count - 20) more") }
        }
        list("missing tensors", missing)
        list("unexpected tensors", unexpected)
        list("tensors with the wrong shape", misshaped)
        lines.append("  Check that config.json belongs to these weights (sizes, layer counts, tie_word_embeddings).")
        return lines.joined(separator: "\n")
    }
}

extension ModelDescription {
    /// Where each base tensor is in `source` (canonical name -> file key), checked strictly: each
    /// expected tensor must be present once (under any of the three key layouts) with the right
    /// shape, and nothing else may be (but the `ignoredTensors`). Every problem is listed at once.
    package func matchBaseWeights(in source: any TensorSource) throws -> [String: String] {
        let expected = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.shape) })
        var found: [String: String] = [:]   // canonical -> file key
        var unexpected: [String] = [], misshaped: [String] = []
        for key in source.names {
            let name = keyLayout.canonical(key)
            if ignoredTensors.contains(name) { continue }
            guard let shape = expected[name] else { unexpected.append(key); continue }
            if found[name] != nil { unexpected.append(key + " (a second copy of \(name))"); continue }
            let info = try source.info(key)
            if info.shape != shape { misshaped.append("\(key): file \(info.shape), model \(shape)") }
            found[name] = key
        }
        let missing = names.filter { found[$0] == nil }
        let file = source.file(containing: source.names.first ?? "")
        guard missing.isEmpty, unexpected.isEmpty, misshaped.isEmpty else {
            throw WeightMismatchError(file: file, missing: missing, unexpected: unexpected, misshaped: misshaped)
        }
        return found
    }
}

extension VisionLanguageModel {
    /// Fills every base parameter from `source`, strictly (ModelDescription.matchBaseWeights). Parameters
    /// kept in 16-bit storage already read their file and are left alone.
    package func loadBaseWeights(from source: any TensorSource, keys: [String: String]? = nil) throws {
        let found = try keys ?? modelDescription.matchBaseWeights(in: source)
        for name in modelDescription.names where parameters[name].half == nil {
            try copyTensor(found[name]!, from: source, into: parameters[name])
        }
    }

    /// Copies one floating-point tensor into a parameter of the same element count, widening
    /// 16-bit storage to the model's precision.
    package func copyTensor(_ key: String, from source: any TensorSource, into parameter: Parameter<T>) throws {
        if T.self == Float.self {
            try source.copyAsFloat(key, into: UnsafeMutableRawPointer(parameter.value).assumingMemoryBound(to: Float.self), count: parameter.count)
            return
        }
        let info = try source.info(key)
        if info.dtype == .F64, T.self == Double.self {
            let bytes = try source.rawBytes(key)
            for i in 0..<parameter.count { parameter.value[i] = T(bytes.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
            return
        }
        let floats = try source.floats(key)
        guard floats.count == parameter.count else {
            throw FormatError(file: source.file(containing: key), entry: key, "has \(floats.count) elements, \(parameter.name) needs \(parameter.count)")
        }
        for i in 0..<parameter.count { parameter.value[i] = T(floats[i]) }
    }

    /// PEFT's LoRA initialisation (A Kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in),
    /// 1/sqrt(in)); B zero, so the adapted model starts equal to the base) and soft prompts set to
    /// the embeddings of the handcrafted prompt suffixes they replace.
    package func initializeAdapters(seed: UInt64, prompts: PromptBuilder) {
        var random = Xoshiro256(seed: seed)
        for parameter in parameters.trainable where parameter.name.hasSuffix(".lora_A.weight") {
            let bound = 1 / Double(parameter.shape[1]).squareRoot()
            for i in 0..<parameter.count { parameter.value[i] = T(random.uniform(-bound, bound)) }
        }
        for parameter in parameters.trainable where parameter.name.hasSuffix(".lora_B.weight") {
            parameter.value.update(repeating: 0, count: parameter.count)
        }
        let table = language.embedTokens, width = hidden
        for (prompt, ids) in [(imagePrompt, prompts.imageSuffixIDs), (textPrompt, prompts.textSuffixIDs)] {
            guard let prompt else { continue }
            precondition(prompt.shape[0] == ids.count, "soft prompt \(prompt.name) has \(prompt.shape[0]) rows for \(ids.count) suffix tokens")
            for (row, id) in ids.enumerated() { table.copyRow(Int(id), into: prompt.value + row * width) }
        }
    }
}
