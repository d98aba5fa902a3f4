import Formats
import Foundation
import Kernels
import Layers
import ModelFiles
import Models

extension ModelPreset {
    /// LLaVA-1.5-7B's shape: CLIP ViT-L/14 (1024 wide, MLP 4096, 24 layers, 16 heads, patch 14;
    /// use image size 336) and Llama-2-7B (4096 wide, MLP 11008, 32 layers, 32 heads without
    /// GQA, 4096 positions; use vocabulary 32064). About 7.06e9 parameters.
    package static let llava15_7B = ModelPreset(visionHidden: 1024, visionIntermediate: 4096, visionLayers: 24, visionHeads: 16, patchSize: 14,
                                               textHidden: 4096, textIntermediate: 11008, textLayers: 32, textHeads: 32, textKeyValueHeads: 32,
                                               maxPositions: 4096)
}

/// What `writeRandomHalfModel` wrote.
package struct RandomModelSummary: Sendable {
    package let directory: String
    package let config: LlavaConfig
    package let parameters: Int
    /// Tensor bytes over all shards (the index's total_size).
    package let bytes: Int
    package let shards: Int
}

/// Writes a Hugging Face LLaVA directory with random 16-bit weights, for benchmarks at real
/// scale: config.json (vocab_size `vocabularySize`), the small TokenizerBuilder tokenizer.json
/// (its ids all fall inside the vocabulary), and `model-0000k-of-0000n.safetensors` shards of
/// at most `shardBytes` tensor bytes each with `model.safetensors.index.json`, the layout
/// SafetensorsShards reads. Every tensor is stored in `format`: norm weights 1, biases 0, the
/// rest N(0, 0.02) by a cheap approximation (below).
///
/// Nothing whole is ever held in memory (a 7B model is 14 GB): each tensor is generated and
/// written in chunks of 2^20 values, several chunks at once over KernelThreads. Chunk c of a
/// tensor draws from its own xoshiro256** stream seeded by (seed, tensor name, c), so the files
/// depend on the seed only, not on the thread count.
///
/// The normal approximation: Irwin-Hall with four uniforms, i.e. the sum of the four 16-bit
/// pieces of one 64-bit draw, centred and scaled to standard deviation 0.02. Mean and variance
/// are exact; the tails stop at +-3.46 sigma and the kurtosis is 2.7 instead of 3, which is
/// irrelevant for timing and memory and about 20x cheaper than Box-Muller.
///
/// Atomic: everything goes to `<directory>.tmp`, is checked (names and shapes, strictly, as
/// loading does), then renamed into place. An existing directory is only replaced with `force`.
package func writeRandomHalfModel(preset: ModelPreset, imageSize: Int, vocabularySize: Int, format: HalfFormat, directory: String,
                                 words: [String] = [], seed: UInt64 = 0, shardBytes: Int = 2_000_000_000,
                                 force: Bool = false) throws -> RandomModelSummary {
    guard imageSize >= preset.patchSize, imageSize % preset.patchSize == 0 else {
        throw ModelConfigError("image size \(imageSize) must be a positive multiple of the patch size \(preset.patchSize).")
    }
    guard shardBytes > 0 else { throw ModelConfigError("shard size must be positive, got \(shardBytes) bytes.") }
    let (target, exists) = try newModelDirectory(directory, force: force, otherPlace: "another model directory",
                                                 whenNotEmpty: "remove it")
    let built = try TokenizerBuilder(words: words).build()
    guard vocabularySize >= built.vocabularySize else {
        throw ModelConfigError("vocabulary size \(vocabularySize) is smaller than the tokenizer's \(built.vocabularySize) pieces; use at least \(built.vocabularySize).")
    }
    let configText = preset.configJSON(imageSize: imageSize, vocabularySize: vocabularySize,
                                       imageTokenID: built.imageTokenID, padTokenID: built.padTokenID)
    let config = try LlavaConfig.parse(Data(configText.utf8), source: "random model config")

    let staging = try stageModelDirectory(target, files: ["config.json": configText, "tokenizer.json": built.json])

    let dtype: SafetensorsDType = format == .float16 ? .F16 : .BF16
    let (shards, total, parameters) = planShards(config.modelDescription.tensors.map { ($0.name, $0.shape) }, dtype: dtype, shardBytes: shardBytes)
    func shardName(_ k: Int) -> String { String(format: "model-%05d-of-%05d.safetensors", k + 1, shards.count) }

    let generator = RandomHalfTensorGenerator(format: format, seed: seed)
    var weightMap: [String: String] = [:]
    for (k, tensors) in shards.enumerated() {
        let path = staging.appendingPathComponent(shardName(k)).path
        try writeSafetensorsStreaming(to: path, tensors: tensors) { tensor, write in try generator.generate(tensor, write: write) }
        for tensor in tensors { weightMap[tensor.name] = shardName(k) }
    }
    try writeShardIndex(weightMap, totalBytes: total, in: staging)
    // Strict check of names and shapes through the normal loading path (no tensor data is read).
    let written = try ModelDirectory(path: staging.path)
    _ = try written.config.modelDescription.matchBaseWeights(in: try SafetensorsShards.openWeights(inDirectory: staging.path))

    try moveIntoPlace(staging, target, replacing: exists)
    return RandomModelSummary(directory: target.path, config: config, parameters: parameters, bytes: total, shards: shards.count)
}

/// Tensors in the model's order, a new shard when the next tensor would overflow this one;
/// with the total bytes and parameter count.
func planShards(_ shapes: [(String, [Int])], dtype: SafetensorsDType, shardBytes: Int)
    -> (shards: [[SafetensorsTensorDeclaration]], bytes: Int, parameters: Int) {
    var shards: [[SafetensorsTensorDeclaration]] = [[]]
    var shardSize = 0, total = 0, parameters = 0
    for (name, shape) in shapes {
        let tensor = SafetensorsTensorDeclaration(name: name, dtype: dtype, shape: shape)
        if shardSize + tensor.byteCount > shardBytes && !shards[shards.count - 1].isEmpty {
            shards.append([])
            shardSize = 0
        }
        shards[shards.count - 1].append(tensor)
        shardSize += tensor.byteCount
        total += tensor.byteCount
        parameters += shape.reduce(1, *)
    }
    return (shards, total, parameters)
}

/// model.safetensors.index.json: which shard holds each tensor, as transformers reads it.
func writeShardIndex(_ weightMap: [String: String], totalBytes: Int, in staging: URL) throws {
    let index = "{\n  \"metadata\": {\"total_size\": \(totalBytes)},\n  \"weight_map\": {\n"
        + weightMap.keys.sorted().map { "    \(jsonString($0)): \(jsonString(weightMap[$0]!))" }.joined(separator: ",\n")
        + "\n  }\n}\n"
    do {
        try Data(index.utf8).write(to: staging.appendingPathComponent("model.safetensors.index.json"))
    } catch {
        throw ModelConfigError("\(staging.path): cannot write model.safetensors.index.json (\(error.localizedDescription)).")
    }
}

/// Produces one tensor's 16-bit bytes chunk by chunk (see writeRandomHalfModel).
struct RandomHalfTensorGenerator {
    static let chunk = 1 << 20          // values per random stream
    static let chunksPerWrite = 8       // streams generated in parallel before one write
    let format: HalfFormat
    let seed: UInt64
    let buffer = Buffer<Float>(count: chunk * chunksPerWrite)
    let narrowed = GrowableArray<UInt16>()

    init(format: HalfFormat, seed: UInt64) {
        self.format = format
        self.seed = seed
        _ = narrowed.reserve(Self.chunk * Self.chunksPerWrite)
    }

    /// Norm weights 1, biases 0, everything else N(0, 0.02) (approximately, see above).
    func generate(_ tensor: SafetensorsTensorDeclaration, write: (UnsafeRawBufferPointer) throws -> Void) throws {
        let count = tensor.shape.reduce(1, *), name = tensor.name
        let constant: Float? = name.hasSuffix(".bias") ? 0
            : (tensor.shape.count == 1 && (name.contains("norm") || name.contains("layrnorm"))) ? 1 : nil
        let key = mixBits(seed ^ stableHash(name))
        let values = SharedPointer(buffer.pointer), halves = SharedPointer(narrowed.pointer), format = format
        var start = 0
        while start < count {
            let n = min(Self.chunk * Self.chunksPerWrite, count - start), firstChunk = start / Self.chunk
            parallelFor((n + Self.chunk - 1) / Self.chunk) { chunks in
                for c in chunks {
                    let lower = c * Self.chunk, upper = min(n, lower + Self.chunk)
                    let out = values.pointer + lower
                    if let constant {
                        out.update(repeating: constant, count: upper - lower)
                    } else {
                        fillApproximateNormal(out, count: upper - lower, standardDeviation: 0.02,
                                              seed: mixBits(key ^ UInt64(firstChunk + c)))
                    }
                    switch format {
                    case .float16: narrowToFloat16(out, halves.pointer + lower, count: upper - lower)
                    case .bfloat16: narrowToBFloat16(out, halves.pointer + lower, count: upper - lower)
                    }
                }
            }
            try write(UnsafeRawBufferPointer(start: narrowed.pointer, count: 2 * n))
            start += n
        }
    }
}

/// Irwin-Hall(4) normal approximation: four 16-bit uniforms from one xoshiro256** draw, summed,
/// centred and scaled so the mean is 0 and the standard deviation exactly `standardDeviation`.
///   values: (count), overwritten
@inlinable
func fillApproximateNormal(_ values: UnsafeMutablePointer<Float>, count: Int, standardDeviation: Float, seed: UInt64) {
    var random = Xoshiro256(seed: seed)
    // Each 16-bit piece is uniform on {0, ..., 65535}: mean 32767.5, variance (65536^2 - 1) / 12.
    let scale = standardDeviation / Float((4 * (65536.0 * 65536.0 - 1) / 12).squareRoot())
    for i in 0..<count {
        let bits = random.next()
        let sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48)
        values[i] = Float(Int64(sum) - 131_070) * scale   // 131070 = 4 * 32767.5, the mean
    }
}

/// Why the model in `directory` cannot stand for a random model of `config` stored in `format`,
/// or nil when it can: benchmarks write such a model once and reuse it. Token ids are ignored
/// (the directory's tokenizer decides them; they change no computation), every other setting
/// and every tensor's shape and dtype must agree.
package func randomHalfModelMismatch(_ directory: ModelDirectory, config: LlavaConfig, format: HalfFormat) throws -> String? {
    guard let existing = directory.llava else { return "holds a \(directory.config.modelType) model, not a LLaVA one" }
    var expected = config
    expected.imageTokenIndex = existing.imageTokenIndex
    expected.text.padTokenId = existing.text.padTokenId
    expected.text.bosTokenId = existing.text.bosTokenId
    expected.text.eosTokenId = existing.text.eosTokenId
    if expected != existing {
        let found = Dictionary(uniqueKeysWithValues: existing.modelDescription.tensors.map { ($0.name, $0.shape) })
        let first = expected.modelDescription.tensors.first { found[$0.name] != $0.shape }
        return "holds a model of another shape: " + (first.map { "\($0.name) is \(found[$0.name].map { "\($0)" } ?? "missing"), not \($0.shape)" }
            ?? "config.json differs in a setting other than tensor shapes")
    }
    let weights = try SafetensorsShards.openWeights(inDirectory: directory.url.path)
    let dtype: SafetensorsDType = format == .float16 ? .F16 : .BF16
    if let other = try weights.names.first(where: { try weights.info($0).dtype != dtype }) {
        return "stores \(other) as \(try weights.info(other).dtype.rawValue), not \(dtype.rawValue)"
    }
    return nil
}
