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

extension Qwen2VLPreset {
    /// Qwen2-VL-2B's shape: the ViT 1280 wide, 32 blocks of 16 heads, MLP ratio 4, patch 14 x 2
    /// frames, 2 x 2 merge; Qwen2 1536 wide, 28 layers, 12 heads sharing 2 key/value heads, MLP
    /// 8960, M-RoPE [16, 24, 24], tied head (use vocabulary 151936). 2,208,985,600 parameters.
    /// Pixels: the 2B processor's 56 x 56 to 28 x 28 x 1280.
    package static let qwen2VL2B = Qwen2VLPreset(visionEmbed: 1280, visionDepth: 32, visionHeads: 16, mlpRatio: 4,
                                                patchSize: 14, mergeSize: 2, temporalPatchSize: 2,
                                                textHidden: 1536, textIntermediate: 8960, textLayers: 28, textHeads: 12, textKeyValueHeads: 2,
                                                mropeSection: [16, 24, 24], maxPositions: 32768, minPixels: 56 * 56, maxPixels: 28 * 28 * 1280)
}

/// A random 16-bit model directory as `writeRandomHalfModel` writes it: everything its files
/// depend on. Its `fingerprint` is stored in the directory, so a later run can tell whether the
/// directory already is this model.
package struct RandomHalfModelRequest: Sendable, Equatable {
    /// The file in a written directory that holds its fingerprint.
    package static let fingerprintFile = "discern-random-model.txt"
    /// Bumped whenever the writer would write other bytes for the same request.
    static let writerVersion = 1

    package var preset: InitModelPreset
    /// LLaVA's image side (ignored for Qwen2-VL, whose images keep their own sizes).
    package var imageSize: Int
    package var vocabularySize: Int
    package var format: HalfFormat
    package var seed: UInt64
    /// Words the tokenizer covers whole (TokenizerBuilder, ByteLevelTokenizerBuilder).
    package var words: [String]
    /// At most this many tensor bytes per shard.
    package var shardBytes: Int

    package init(preset: InitModelPreset, imageSize: Int = 0, vocabularySize: Int, format: HalfFormat, seed: UInt64 = 0,
                words: [String] = [], shardBytes: Int = 2_000_000_000) {
        self.preset = preset
        self.imageSize = imageSize
        self.vocabularySize = vocabularySize
        self.format = format
        self.seed = seed
        self.words = words
        self.shardBytes = shardBytes
    }

    /// The directory's text files and config (checked as loading checks them).
    func files() throws -> NewModelFiles {
        if case .llava(let preset) = preset {
            guard imageSize >= preset.patchSize, imageSize % preset.patchSize == 0 else {
                throw ModelConfigError("image size \(imageSize) must be a positive multiple of the patch size \(preset.patchSize).")
            }
        }
        guard shardBytes > 0 else { throw ModelConfigError("shard size must be positive, got \(shardBytes) bytes.") }
        return try preset.newModelFiles(vocabularySize: vocabularySize, words: words, imageSize: imageSize)
    }

    /// One line per setting the weights depend on, then the text files (tokenizer.json by its
    /// hash: it is long and follows from the words): equal fingerprints, equal directories.
    func fingerprint(_ files: NewModelFiles) -> String {
        var lines = ["discern random 16-bit model, writer \(Self.writerVersion)", "format \(format.rawValue)", "seed \(seed)",
                     "shard_bytes \(shardBytes)", "words \(words.joined(separator: " "))"]
        for name in files.texts.keys.sorted() {
            let text = files.texts[name]!
            if name == "tokenizer.json" {
                lines.append("\(name) hash \(String(stableHash(text), radix: 16))")
            } else {
                lines += text.split(separator: "\n", omittingEmptySubsequences: false).map { "\(name): \($0)" }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// What a model directory path holds, for a random model request.
package enum RandomHalfModelState: Sendable, Equatable {
    /// Nothing, or an empty directory: write it.
    case missing
    /// The request's model, written before (its fingerprint and text files are the request's).
    case matches
    /// A random model written for another request (the first difference, in words): it may be replaced.
    case differs(String)
    /// Something that is not a random model Discern wrote (no fingerprint): never replaced.
    case foreign(String)
}

extension RandomHalfModelRequest {
    /// Which of the states `path` is in. Only a directory whose fingerprint is this request's
    /// `matches`; its weights are then the ones this request would write.
    package func state(of path: String) throws -> RandomHalfModelState {
        let manager = FileManager.default
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return .missing }
        guard isDirectory.boolValue else { return .foreign("is a file") }
        if ((try? manager.contentsOfDirectory(atPath: url.path)) ?? []).isEmpty { return .missing }
        func text(_ name: String) -> String? {
            (try? Data(contentsOf: url.appendingPathComponent(name))).flatMap { String(data: $0, encoding: .utf8) }
        }
        guard let stored = text(Self.fingerprintFile) else {
            return .foreign("has no \(Self.fingerprintFile), so it was not written by discern bench")
        }
        let files = try files()
        let expected = fingerprint(files)
        guard stored == expected else {
            let old = stored.split(separator: "\n", omittingEmptySubsequences: false), new = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let common = min(old.count, new.count), line = (0..<common).first { old[$0] != new[$0] } ?? common
            func quoted(_ lines: [Substring]) -> String { line < lines.count ? "'\(lines[line])'" : "nothing" }
            return .differs("its fingerprint has \(quoted(old)) where this model has \(quoted(new))")
        }
        for (name, content) in files.texts where name != "tokenizer.json" && text(name) != content {
            return .differs("its \(name) is not the one its fingerprint names")
        }
        return .matches
    }
}

/// What `writeRandomHalfModel` wrote.
package struct RandomModelSummary: Sendable {
    package let directory: String
    package let config: any VisionLanguageConfig
    package let parameters: ParameterCounts
    /// Tensor bytes over all shards (the index's total_size).
    package let bytes: Int
    package let shards: Int
}

/// Writes a Hugging Face model directory of either family with random 16-bit weights, for
/// benchmarks at real scale: config.json (vocab_size `request.vocabularySize`), a small
/// tokenizer.json whose ids all fall inside the vocabulary (TokenizerBuilder for LLaVA,
/// ByteLevelTokenizerBuilder for Qwen2-VL, with preprocessor_config.json), the request's
/// fingerprint, and `model-0000k-of-0000n.safetensors` shards of at most `shardBytes` tensor
/// bytes each with `model.safetensors.index.json`, the layout SafetensorsShards reads. Every
/// tensor is stored in `format`: norm weights 1, biases 0, the rest N(0, 0.02) by a cheap
/// approximation (below).
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
/// loading does; the tokenizer's ids against the vocabulary), then renamed into place. An
/// existing directory is only replaced with `force`.
package func writeRandomHalfModel(_ request: RandomHalfModelRequest, directory: String, force: Bool = false) throws -> RandomModelSummary {
    let made = try request.files()
    let (target, exists) = try newModelDirectory(directory, force: force, otherPlace: "another model directory",
                                                 whenNotEmpty: "remove it")
    var texts = made.texts
    texts[RandomHalfModelRequest.fingerprintFile] = request.fingerprint(made)
    let staging = try stageModelDirectory(target, files: texts)

    let dtype: SafetensorsDType = request.format == .float16 ? .F16 : .BF16
    let description = made.config.modelDescription
    let (shards, total) = planShards(description.tensors.map { ($0.name, $0.shape) }, dtype: dtype, shardBytes: request.shardBytes)
    func shardName(_ k: Int) -> String { String(format: "model-%05d-of-%05d.safetensors", k + 1, shards.count) }

    let generator = RandomHalfTensorGenerator(format: request.format, seed: request.seed)
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
    _ = try written.tokenizer()

    try moveIntoPlace(staging, target, replacing: exists)
    return RandomModelSummary(directory: target.path, config: made.config, parameters: ParameterCounts(description), bytes: total, shards: shards.count)
}

/// Tensors in the model's order, a new shard when the next tensor would overflow this one;
/// with the total bytes.
func planShards(_ shapes: [(String, [Int])], dtype: SafetensorsDType, shardBytes: Int)
    -> (shards: [[SafetensorsTensorDeclaration]], bytes: Int) {
    var shards: [[SafetensorsTensorDeclaration]] = [[]]
    var shardSize = 0, total = 0
    for (name, shape) in shapes {
        let tensor = SafetensorsTensorDeclaration(name: name, dtype: dtype, shape: shape)
        if shardSize + tensor.byteCount > shardBytes && !shards[shards.count - 1].isEmpty {
            shards.append([])
            shardSize = 0
        }
        shards[shards.count - 1].append(tensor)
        shardSize += tensor.byteCount
        total += tensor.byteCount
    }
    return (shards, total)
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
