import Formats
import Foundation
import Kernels
import Layers
import ModelFactory
import ModelFiles
import Models
import Objectives
import XCTest

/// The memory options change where values live and when they are computed, never a bit of
/// the result: 16-bit base weights widened per use against the same file widened on load, and
/// activation recomputation against keeping every layer's activations. Also the streaming
/// writer of random 16-bit model directories those checks load.
final class MemoryOptionTests: XCTestCase {
    /// Vision 96 x 3 layers at 32 px / patch 8, Llama 160 x 4 layers: a few MB in 16-bit.
    static let imageSize = 32, vocabulary = 512

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-memory-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func writeModel(_ format: HalfFormat, shardBytes: Int = 2_000_000_000, seed: UInt64 = 3) throws -> (URL, RandomModelSummary) {
        let url = try temporaryDirectory()
        let request = RandomHalfModelRequest(preset: .llava(.tiny), imageSize: Self.imageSize, vocabularySize: Self.vocabulary, format: format,
                                             seed: seed, words: ["red", "circle"], shardBytes: shardBytes)
        let summary = try writeRandomHalfModel(request, directory: url.path)
        return (url, summary)
    }

    func testRandomHalfModelIsShardedDeterministicAndDistributedAsAsked() throws {
        let limit = 400_000
        let (url, summary) = try writeModel(.float16, shardBytes: limit)
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path + ".tmp"), "the staging directory was renamed")
        XCTAssertGreaterThan(summary.shards, 3)
        let weights = try SafetensorsShards(indexPath: url.appendingPathComponent("model.safetensors.index.json").path)
        XCTAssertEqual(weights.shards.count, summary.shards)
        for (name, shard) in weights.shards {
            XCTAssertTrue(name.hasSuffix("-of-\(String(format: "%05d", summary.shards)).safetensors"), name)
            let bytes = try shard.names.reduce(0) { $0 + (try shard.info($1)).dataOffsets.count }
            XCTAssertLessThanOrEqual(bytes, limit, name)
        }
        XCTAssertEqual(try weights.names.reduce(0) { $0 + (try weights.info($1)).dataOffsets.count }, summary.bytes)
        XCTAssertTrue(try weights.names.allSatisfy { try weights.info($0).dtype == .F16 })

        // Values: N(0, 0.02) weights, unit norm weights, zero biases.
        let weight = try weights.floats("language_model.model.layers.1.mlp.up_proj.weight")
        let mean = weight.reduce(0, +) / Float(weight.count)
        let deviation = (weight.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(weight.count)).squareRoot()
        // 69k samples: the sample deviation is within 1% of 0.02 with overwhelming probability;
        // f16 rounding moves it far less.
        let onePercent: Float = 0.0002, meanBound: Float = 0.0005   // mean: its standard error is 0.02 / sqrt(69k) = 7.6e-5
        XCTAssertEqual(deviation, 0.02, accuracy: onePercent)
        XCTAssertEqual(mean, 0, accuracy: meanBound)
        XCTAssertEqual(Set(try weights.floats("language_model.model.layers.2.input_layernorm.weight")), [1])
        XCTAssertEqual(Set(try weights.floats("vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias")), [0])

        // The bytes depend on the seed only, not on the number of threads generating them.
        let saved = KernelThreads.count
        KernelThreads.count = 2
        defer { KernelThreads.count = saved }
        let (again, _) = try writeModel(.float16, shardBytes: limit)
        for name in weights.shards.keys {
            XCTAssertEqual(try Data(contentsOf: url.appendingPathComponent(name)), try Data(contentsOf: again.appendingPathComponent(name)), name)
        }
        let (otherSeed, _) = try writeModel(.float16, shardBytes: limit, seed: 4)
        let other = try SafetensorsShards.openWeights(inDirectory: otherSeed.path)
        XCTAssertNotEqual(try other.floats("language_model.model.layers.1.mlp.up_proj.weight"), weight)
        let another = RandomHalfModelRequest(preset: .llava(.tiny), imageSize: Self.imageSize, vocabularySize: Self.vocabulary, format: .bfloat16)
        XCTAssertThrowsError(try writeRandomHalfModel(another, directory: url.path)) { error in
            XCTAssertTrue("\(error)".contains("not empty"), "\(error)")
        }
    }

    /// One image pass (contrastive-style pooled cotangent) and one NTP pass through `model`;
    /// returns the final hidden states of both and every trainable gradient.
    func forwardBackward(_ model: VisionLanguageModel<Float>, prompts: PromptBuilder, steps: Int = 2) throws -> [[Float]] {
        let size = model.config.fixedImageSize!, width = model.hidden
        var random = Xoshiro256(seed: 21)
        let pixels: [Float] = (0..<2 * 3 * size * size).map { _ in random.uniform(-1.5, 1.5) }
        var images = SequenceBatch(items: try (0..<2).map { try prompts.imageItem(imageIndex: $0, softPrompt: true).item })
        images.keyRows(sampleKeys: [1, 2], seed: 5)
        let generative = try ["red circle", "circle"].enumerated().map { try prompts.imageItem(imageIndex: $0.offset, softPrompt: true, longCaption: $0.element) }
        var captions = SequenceBatch(items: generative.map(\.item), poolIndices: generative.map(\.poolIndex))
        captions.keyRows(sampleKeys: [3, 4], seed: 5)
        let cotangent: [Float] = (0..<2 * width).map { _ in random.uniform(-1, 1) }
        let imagePass = VisionLanguageModel<Float>.Pass(), ntpPass = VisionLanguageModel<Float>.Pass(), scratch = ModelScratch<Float>()
        let pooling = EmbeddingPooling<Float>(), ntp = NextTokenLoss<Float>(), poolScratch = GrowableBuffer<Float>()
        var outputs: [[Float]] = []
        for _ in 0..<steps {   // twice: reused passes and tapes must give the same again
            model.parameters.zeroGradients()
            let imageHidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: 2), sequences: images, pass: imagePass)
            }
            outputs.append(Array(UnsafeBufferPointer(start: imageHidden, count: images.rows * width)))
            _ = pooling.forward(imageHidden, sequences: images, width: width)
            let ntpHidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: 2), sequences: captions, pass: ntpPass)
            }
            outputs.append(Array(UnsafeBufferPointer(start: ntpHidden, count: captions.rows * width)))
            _ = ntp.forward(ntpHidden, sequences: captions, head: model.language.lmHead)
            let dNTP = Buffer<Float>(count: captions.rows * width)
            ntp.backward(scale: 0.5, head: model.language.lmHead, dHidden: dNTP.pointer, scratch: poolScratch)
            model.backward(dNTP.pointer, pass: ntpPass, scratch: scratch)
            let dImages = Buffer<Float>(count: images.rows * width)
            pooling.backward(cotangent, sequences: images, width: width, dHidden: dImages.pointer, scratch: poolScratch)
            model.backward(dImages.pointer, pass: imagePass, scratch: scratch)
            outputs.append(model.parameters.trainableGradients.array)
        }
        return outputs
    }

    /// LoRA (with dropout) on the LLM and the vision tower, soft prompts: the adapters get random
    /// values (B nonzero, so every adapter gradient is nonzero) from a fixed stream.
    func trainable(_ prompts: PromptBuilder, fullModel: Bool = false) -> TrainableSet {
        TrainableSet(fullModel: fullModel, lora: LoRASettings(rank: 2, alpha: 4, dropout: 0.25, targetPattern: #".*(q_proj|o_proj|down_proj|fc1|linear_2)"#),
                     imageSoftPromptLength: prompts.imageSuffixIDs.count, textSoftPromptLength: prompts.textSuffixIDs.count)
    }

    func randomizeAdapters(_ model: VisionLanguageModel<Float>) {
        var random = Xoshiro256(seed: 8)
        for parameter in model.parameters.trainable { for i in 0..<parameter.count { parameter.value[i] = random.uniform(-0.3, 0.3) } }
    }

    func assertBitIdentical(_ actual: [[Float]], _ expected: [[Float]], _ what: String) {
        XCTAssertEqual(actual.count, expected.count)
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            XCTAssertEqual(a.count, e.count, "\(what) output \(i)")
            let differing = zip(a, e).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(what): output \(i) differs in \(differing) of \(a.count) values")
            XCTAssertTrue(e.contains { $0 != 0 }, "\(what): output \(i) is all zero, the comparison proves nothing")
        }
    }

    func testHalfWeightsAndRecomputeGiveBitIdenticalResults() throws {
        for format in HalfFormat.allCases {
            let (url, _) = try writeModel(format, shardBytes: 1_000_000)
            let directory = try ModelDirectory(path: url.path)
            let prompts = try directory.promptBuilder()
            let trainable = trainable(prompts)
            func load(_ memory: ModelMemoryOptions) throws -> VisionLanguageModel<Float> {
                let model: VisionLanguageModel<Float> = try directory.loadModel(trainable: trainable, memory: memory)
                randomizeAdapters(model)
                return model
            }
            let widened = try load(ModelMemoryOptions())
            XCTAssertTrue(widened.parameters.halfParameters.isEmpty)
            let expected = try forwardBackward(widened, prompts: prompts)

            let half = try load(ModelMemoryOptions(halfWeights: true))
            // Every 2-D weight but the position embedding stays 16-bit: linear layers (LoRA-adapted
            // ones too), embed_tokens, lm_head; norms, biases and embeddings of the tower do not.
            let halfNames = Set(half.parameters.halfParameters.map(\.name))
            XCTAssertTrue(halfNames.contains("language_model.model.embed_tokens.weight"))
            XCTAssertTrue(halfNames.contains("language_model.lm_head.weight"))
            XCTAssertTrue(halfNames.contains("language_model.model.layers.0.self_attn.q_proj.weight"))
            XCTAssertTrue(halfNames.contains("vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"))
            XCTAssertTrue(halfNames.contains("multi_modal_projector.linear_2.weight"))
            XCTAssertFalse(halfNames.contains("vision_tower.vision_model.embeddings.position_embedding.weight"))
            XCTAssertEqual(half.parameters.frozenValueCount,
                           widened.parameters.frozenValueCount - half.parameters.halfParameters.reduce(0) { $0 + $1.count },
                           "16-bit weights get no Float storage")
            assertBitIdentical(try forwardBackward(half, prompts: prompts), expected, "\(format) half weights")

            let both = try load(ModelMemoryOptions(halfWeights: true, recompute: true))
            assertBitIdentical(try forwardBackward(both, prompts: prompts), expected, "\(format) half weights + recompute")
        }
    }

    /// Recomputation with everything training (every base weight, LoRA with dropout on the LLM,
    /// vision LoRA, soft prompts), so the vision tower's backward recomputes too.
    func testRecomputeGivesBitIdenticalGradientsWhenTheVisionTowerTrains() throws {
        let (url, _) = try writeModel(.bfloat16)
        let directory = try ModelDirectory(path: url.path)
        let prompts = try directory.promptBuilder()
        let trainable = trainable(prompts, fullModel: true)
        func run(recompute: Bool) throws -> [[Float]] {
            let model: VisionLanguageModel<Float> = try directory.loadModel(trainable: trainable, memory: ModelMemoryOptions(recompute: recompute))
            XCTAssertTrue(model.vision.needsBackward)
            var random = Xoshiro256(seed: 8)
            for parameter in model.parameters.parameters where parameter.name.contains("lora_") || parameter.name.contains("prompt") {
                for i in 0..<parameter.count { parameter.value[i] = random.uniform(-0.3, 0.3) }
            }
            return try forwardBackward(model, prompts: prompts)
        }
        assertBitIdentical(try run(recompute: true), try run(recompute: false), "recompute")
    }
}
