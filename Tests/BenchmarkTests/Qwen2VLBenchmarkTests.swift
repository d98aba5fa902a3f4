import Benchmark
import Communication
import Configuration
import Formats
import Foundation
import Kernels
import ModelFactory
import ModelFiles
import Models
import Platform
import XCTest

/// `discern bench` on a Qwen2-VL-shaped model: the bench section's family and shape keys, the
/// step and its FLOP count, and the random 16-bit model directory with its fingerprint.
final class Qwen2VLBenchmarkTests: XCTestCase {
    /// A Qwen2-VL small enough to count by hand: a 16 x 16 image in 4 x 4 patches of 4 px (16
    /// patches, 2 x 2 merged: 4 LLM tokens); ViT 16 wide x 2 blocks, 2 heads of 8, MLP 32;
    /// Qwen2 32 wide x 2 layers, 4 heads of 8 sharing 2 key/value heads, MLP 48, vocabulary 64,
    /// tied head; one pair, 3-token caption, soft prompts of 2.
    static let tinyYAML = """
    seed: 1
    global_batch: 1
    lora:
      rank: 2
      alpha: 4
    optimizer:
      warmup: 0
      schedule: constant
    bench:
      family: qwen2_vl
      warmup: 1
      image_size: 16
      patch_size: 4
      merge_size: 2
      temporal_patch_size: 2
      vision_hidden: 16
      vision_intermediate: 32
      vision_layers: 2
      vision_heads: 2
      text_hidden: 32
      text_intermediate: 48
      text_layers: 2
      text_heads: 4
      text_kv_heads: 2
      tie_word_embeddings: true
      vocab_size: 64
      max_positions: 64
      caption_tokens: 3
      prompt_tokens: 2

    """

    func config(_ overrides: [String] = [], yaml: String = tinyYAML) throws -> ResolvedConfig {
        var config = try ResolvedConfig.parse(yaml: yaml, source: "bench.yaml")
        for assignment in overrides { try config.set(assignment) }
        return config
    }

    func settings(_ overrides: [String] = []) throws -> BenchmarkSettings {
        try BenchmarkSettings(BenchConfiguration(try config(overrides)))
    }

    func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("discern-bench-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Runs `steps` timed steps of the configured bench; returns the report and what it said.
    func runBench(_ overrides: [String], steps: Int = 1) throws -> (Benchmark.Report, [String]) {
        let benchmark = try Benchmark(config: try config(overrides), configPath: "bench.yaml", communicator: SingleProcessCommunicator())
        var said: [String] = []
        let report = try benchmark.run(steps: steps, threads: 1) { said.append($0) }
        return (report, said)
    }

    func testTinyQwen2VLStepRunsWithTheHandCountedFlops() throws {
        let settings = try settings()
        XCTAssertEqual(settings.imageGrid, PatchGrid(rows: 4, columns: 4))
        XCTAssertEqual(settings.imageTokensPerImage, 4)
        let config = try XCTUnwrap(try settings.modelConfig() as? Qwen2VLConfig)
        XCTAssertEqual(config.mropeSection, [2, 1, 1], "head 8: 4 rotary frequencies, 3/8 each to height and width")
        XCTAssertTrue(config.tieWordEmbeddings)

        let (report, said) = try runBench([])
        XCTAssertTrue(said[0].hasPrefix("bench: Qwen2-VL: vision 16x2"), said[0])
        // By hand (docs/performance.md's formula), multiply-adds:
        //   vision: patch embedding 16 patches x 96 values (3 x 2 frames x 4 x 4) x 16 = 24,576;
        //     2 blocks x [16 x (4 x 16^2 + 2 x 16 x 32) + 2 x 16^2 x 16] = 2 x 40,960 = 81,920;
        //     merger 4 tokens x (64^2 + 64 x 32) = 24,576; in all 131,072, forward only (frozen): x 2.
        //   LLM per token 2 x 32 x 32 (q, o) + 2 x 32 x 16 (k, v) + 3 x 32 x 48 (MLP) = 7,680;
        //     image pass: vision_start, 4 image tokens, vision_end, 2 soft prompt rows, 3 caption
        //     tokens, EOS = 12 positions (no BOS: Qwen2's tokenizer adds none):
        //       2 layers x (12 x 7,680 + 2 x 12^2 x 32) = 202,752;
        //     text pass: 3 caption tokens + 2 soft prompt rows = 5 positions:
        //       2 x (5 x 7,680 + 2 x 5^2 x 32) = 80,000; forward + input-gradient backward: x 4.
        //   head: 4 targets (the pooled row and the 3 caption tokens) x 64 x 32 = 8,192, x 4.
        let expected = 2.0 * 131_072 + 4.0 * (202_752 + 80_000) + 4.0 * 8_192
        XCTAssertEqual(report.flopsPerStep, expected)
        XCTAssertEqual(expected, 1_425_920)
        XCTAssertTrue(report.firstLoss.contrastive.isFinite && report.firstLoss.ntp > 0, "\(report.firstLoss)")
        XCTAssertGreaterThan(report.split.visionForward, 0)
        XCTAssertGreaterThan(report.split.llmBackward, 0)
        // The numeric step allocates nothing once its buffers have grown (M-RoPE's per-image
        // layout included), unless OpenBLAS's own kernels do (below).
        if let allocations = report.allocationsPerStep, !Self.coresWhoseSGEMMAllocates.contains(BLASInfo().coreName.lowercased()) {
            XCTAssertEqual(allocations.compute, 0, "heap allocations per step in the forward/backward/update")
        }
    }

    /// bf16 compute in the bench (weights made in memory and written to disk): the frozen weights
    /// are held as bf16, the step counts the same FLOPs, and its first losses stay within bf16
    /// rounding of fp32's (they are logs of softmaxes near ln(batch), so 2% is generous).
    func testBFloat16StepRunsOnWeightsInMemoryAndOnDisk() throws {
        try XCTSkipUnless(BFloat16Hardware.native, "this CPU has no native bf16 dot products (\(BFloat16Hardware.description))")
        // A vocabulary the written model's byte-level tokenizer fits in.
        let vocabulary = ["bench.vocab_size=400"]
        let (fp32, _) = try runBench(vocabulary)
        for weights in [["bench.weights=memory"], ["bench.weights=bfloat16", "bench.model_dir=\(temporaryDirectory().path)"]] {
            let (bf16, said) = try runBench(vocabulary + weights + ["memory.compute=bf16"])
            XCTAssertEqual(bf16.precision, "bf16")
            XCTAssertTrue(said.contains { $0.hasPrefix("bench: compute bf16") }, "\(said)")
            XCTAssertEqual(bf16.flopsPerStep, fp32.flopsPerStep)
            XCTAssertEqual(bf16.firstLoss.contrastive, fp32.firstLoss.contrastive, accuracy: 0.02 * fp32.firstLoss.contrastive, "\(weights)")
            XCTAssertEqual(bf16.firstLoss.ntp, fp32.firstLoss.ntp, accuracy: 0.02 * fp32.firstLoss.ntp, "\(weights)")
            XCTAssertNotEqual(bf16.firstLoss.ntp, fp32.firstLoss.ntp, "bf16 compute gave fp32's loss bit for bit: it did not run")
        }
        XCTAssertEqual(fp32.precision, "fp32")
    }

    /// OpenBLAS 0.3.21's small-matrix kernels of these cores malloc a buffer per call inside
    /// cblas_sgemm (docs/performance.md): not allocations of Discern's.
    static let coresWhoseSGEMMAllocates: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    func testTheRandom16BitModelLoadsStrictlyAndIsReusedOnlyWhenItsFingerprintMatches() throws {
        let directory = temporaryDirectory().path
        // The byte-level tokenizer the directory gets needs a few hundred ids.
        let half = ["bench.weights=float16", "bench.model_dir=\(directory)", "bench.vocab_size=1024", "memory.half_weights=true", "memory.recompute=true"]
        let (first, wrote) = try runBench(half)
        XCTAssertTrue(wrote.contains { $0.hasPrefix("bench: writing a random float16 model to \(directory)") }, "\(wrote)")

        // The written directory loads through Discern's own loader, strictly, in the hub layout.
        let model = try ModelDirectory(path: directory)
        guard case .qwen2VL(let config, let images) = model.family else { return XCTFail("not read as Qwen2-VL: \(model.config.modelType)") }
        XCTAssertEqual(images.mergeSize, 2)
        let weights = try SafetensorsShards.openWeights(inDirectory: directory)
        let found = try config.modelDescription.matchBaseWeights(in: weights)   // throws on any missing or unexpected key
        XCTAssertEqual(found.count, config.modelDescription.tensors.count)
        XCTAssertEqual(Set(weights.names), Set(found.values), "0 unexpected keys")
        XCTAssertTrue(weights.names.contains("visual.blocks.1.attn.qkv.weight"))
        XCTAssertTrue(weights.names.contains("model.layers.0.self_attn.k_proj.bias"))
        XCTAssertFalse(weights.names.contains("lm_head.weight"), "tied head")
        XCTAssertTrue(try weights.names.allSatisfy { try weights.info($0).dtype == .F16 })
        XCTAssertEqual(config.modelDescription, try settings(half).modelConfig().modelDescription)
        _ = try model.tokenizer()

        // Same request: reused, same numbers (the same weights).
        let (again, reused) = try runBench(half)
        XCTAssertTrue(reused.contains { $0.contains("reusing the random float16 model in \(directory)") }, "\(reused)")
        XCTAssertFalse(reused.contains { $0.contains("writing") }, "\(reused)")
        XCTAssertEqual(again.firstLoss.contrastive, first.firstLoss.contrastive)

        // Another seed or another shape: the fingerprint differs, the model is written again.
        let request = try XCTUnwrap(try settings(half).randomModelRequest(seed: 1))
        XCTAssertEqual(try request.state(of: directory), .matches)
        var otherSeed = request
        otherSeed.seed = 2
        guard case .differs(let why) = try otherSeed.state(of: directory) else { return XCTFail("another seed matched") }
        XCTAssertTrue(why.contains("'seed 1' where this model has 'seed 2'"), why)
        let otherShape = try XCTUnwrap(try settings(half + ["bench.text_layers=3"]).randomModelRequest(seed: 1))
        guard case .differs = try otherShape.state(of: directory) else { return XCTFail("another shape matched") }
        let (_, rewrote) = try runBench(half + ["seed=2"])
        XCTAssertTrue(rewrote.contains { $0.contains("holds another random model") && $0.contains("rewriting it") }, "\(rewrote)")
        XCTAssertEqual(try otherSeed.state(of: directory), .matches)

        // A directory the benchmark did not write is never reused or replaced.
        try FileManager.default.removeItem(atPath: directory + "/" + RandomHalfModelRequest.fingerprintFile)
        guard case .foreign = try otherSeed.state(of: directory) else { return XCTFail("a directory without fingerprint was taken") }
        XCTAssertThrowsError(try runBench(half + ["seed=2"])) { error in
            XCTAssertTrue("\(error)".contains("not written by discern bench; delete it"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/config.json"), "left alone")
        XCTAssertEqual(try RandomHalfModelRequest(preset: .qwen2VL(.tiny), vocabularySize: 512, format: .bfloat16)
            .state(of: temporaryDirectory().path), .missing)
    }

    func testInconsistentShapesAndFamiliesAreClearErrors() throws {
        func error(_ overrides: [String]) -> String {
            do {
                _ = try settings(overrides)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertThrowsError(try config(["bench.family=qwen2"])) { error in
            XCTAssertEqual("\(error)", #"--set: bench.family must be one of llava, qwen2_vl; found "qwen2"."#)
        }
        XCTAssertThrowsError(try config([], yaml: "bench:\n  family: Qwen2-VL\n")) { error in
            XCTAssertTrue("\(error)".contains("bench.yaml:2: bench.family must be one of llava, qwen2_vl"), "\(error)")
        }
        XCTAssertEqual(error(["bench.vision_hidden=20", "bench.vision_heads=3"]),
                       "bench.vision_hidden 20 does not divide by bench.vision_heads 3: each head takes an equal share of the width.")
        XCTAssertEqual(error(["bench.text_hidden=30"]),
                       "bench.text_hidden 30 does not divide by bench.text_heads 4: each head takes an equal share of the width.")
        XCTAssertTrue(error(["bench.text_kv_heads=3"]).hasPrefix("bench.text_heads 4 does not divide by bench.text_kv_heads 3"))
        XCTAssertEqual(error(["bench.image_size=20"]),
                       "bench.image_size 20 is not a multiple of bench.patch_size x bench.merge_size = 8: Qwen2-VL's merger joins 2 x 2 patches into one LLM token, so the image must be whole merge windows (e.g. 16).")
        XCTAssertTrue(error(["bench.vision_hidden=24", "bench.vision_heads=4"]).contains("= 6 is not a multiple of 4"))
        XCTAssertTrue(error(["bench.text_hidden=36", "bench.text_heads=4", "bench.text_kv_heads=2"]).contains("= 9 is odd"))
        XCTAssertTrue(error(["bench.vision_intermediate=40"]).hasPrefix("bench.vision_intermediate 40 does not divide by bench.vision_hidden 16"))
        XCTAssertEqual(error(["bench.vocab_size=7"]), "bench.vocab_size must be at least 8 (pad, BOS, EOS, 4 special tokens and one word).")
        // LLaVA: its own image rule, and no Qwen2-VL-only key away from its default.
        XCTAssertEqual(error(["bench.family=llava", "bench.image_size=18"]),
                       "bench.image_size 18 does not divide by bench.patch_size 4: CLIP cuts the image into whole patches.")
        XCTAssertEqual(error(["bench.family=llava", "bench.merge_size=3"]),
                       "bench.merge_size is 3, but it shapes Qwen2-VL models only (bench.family qwen2_vl); leave it at 2 for bench.family llava.")
        XCTAssertEqual(error(["bench.family=llava"]), "no error")
    }

    /// The shipped configs are the shapes they name: Qwen2-VL-2B (its published 2,208,985,600
    /// parameters, 256 tokens for a 448 x 448 image) and LLaVA-1.5-7B.
    func testShippedConfigsHaveTheirModelsShapes() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs").standardizedFileURL
        func settings(_ name: String) throws -> BenchmarkSettings {
            try BenchmarkSettings(BenchConfiguration(try ResolvedConfig.load(file: configs.appendingPathComponent(name).path)))
        }
        let qwen = try settings("bench-qwen2vl-2b-shape.yaml")
        XCTAssertEqual(qwen.preset, .qwen2VL(.qwen2VL2B))
        XCTAssertEqual(qwen.imageTokensPerImage, 256)
        XCTAssertEqual(qwen.vocabularySize, 151_936)
        XCTAssertEqual(try qwen.modelConfig().modelDescription.parameterCount, 2_208_985_600)
        let llava = try settings("bench-llava-7b-shape.yaml")
        XCTAssertEqual(llava.preset, .llava(.llava15_7B))
        XCTAssertEqual(llava.imageTokensPerImage, 576)
    }
}
