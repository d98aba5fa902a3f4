import Datasets
import Evaluation
import Formats
import Foundation
import Images
import Kernels
import ModelFiles
import Models
import PEFT
import TestSupport
import XCTest

/// `discern export` of Qwen2-VL checkpoints against what PEFT 0.21 + transformers 5.24 do with a
/// Qwen2-VL adapter (qwen2vl-a-peft.json, made by Tests/Reference/make_peft_fixtures.py), and the
/// export read back by `embed --adapters`. check_interop.py runs the same export through Python.
final class AdapterExportTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../ModelsTests/Fixtures").standardized
    static let qwen2VL = fixtures.appendingPathComponent("qwen2vl-a").path
    /// LoRA folded into the weights against LoRA applied beside them, float32 through ~6 layers:
    /// measured ~1e-7; 1e-5 allows other summation orders and still catches a missing or
    /// misplaced adapter (the trained adapters move the embeddings by ~1e-2).
    static let mergeTolerance: Float = 1e-5

    struct PEFTNames: Decodable {
        let moduleNames: [String], hubModuleNames: [String], loraModules: [String], adapterKeys: [String]
        let hubKeysLoad: Int
    }

    func peftNames() throws -> PEFTNames {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(PEFTNames.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("qwen2vl-a-peft.json")))
    }

    /// The modules Discern trains with the default lora.target_modules, under its (hub) names.
    func trainedModules() throws -> [String] {
        let config = try ModelDirectory(path: Self.qwen2VL).config
        let specs = try config.modelDescription.parameterSpecs(trainable: TrainableSet(lora: LoRASettings(rank: 4)), hidden: config.hiddenSize)
        return specs.map(\.name).filter { $0.hasSuffix(".lora_A.weight") }.map { String($0.dropLast(".lora_A.weight".count)) }
    }

    func testAdapterKeysAreThoseThatPEFTWritesAndPlaces() throws {
        let names = try peftNames()
        XCTAssertEqual(names.hubKeysLoad, 0, "PEFT now places hub-named Qwen2-VL keys: hub names would also do (docs/export.md)")
        let keys = try trainedModules().flatMap { module in
            ["lora_A", "lora_B"].map { AdapterExport.adapterKey(module: module, part: $0, layout: .qwen2VL) }
        }
        XCTAssertEqual(keys.sorted(), names.adapterKeys)
    }

    func testTargetPatternMatchesExactlyTheTrainedModulesUnderBothNamings() throws {
        let names = try peftNames()
        func matches(_ pattern: String, _ modules: [String]) throws -> [String] {
            let regex = try Regex(pattern)
            return modules.filter { (try? regex.wholeMatch(in: $0)) != nil }.sorted()
        }
        let pattern = AdapterExport.targetPattern(try trainedModules(), layout: .qwen2VL)
        XCTAssertEqual(try matches(pattern, names.moduleNames), names.loraModules, pattern)
        let hubLoRA = names.loraModules.map { "model." + $0.dropFirst("model.language_model.".count) }.sorted()
        XCTAssertEqual(try matches(pattern, names.hubModuleNames), hubLoRA, pattern)
        // A subset, with a vision module: nothing else is hit, in either naming.
        let subset = AdapterExport.targetPattern(["model.layers.1.self_attn.q_proj", "visual.blocks.0.attn.qkv"], layout: .qwen2VL)
        XCTAssertEqual(try matches(subset, names.moduleNames), ["model.language_model.layers.1.self_attn.q_proj", "model.visual.blocks.0.attn.qkv"])
        XCTAssertEqual(try matches(subset, names.hubModuleNames), ["model.layers.1.self_attn.q_proj", "visual.blocks.0.attn.qkv"])
    }

    /// Trains qwen2vl-a for two steps and exports with --merge: the export read back gives the
    /// checkpoint's embeddings, and merged/ is a Qwen2-VL directory in the hub layout whose
    /// embeddings (with the soft prompts) are the adapted model's.
    func testQwen2VLExportReadsBackAndMerges() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-export-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let checkpoint = try trainQwen2VL(in: folder), export = folder.appendingPathComponent("export").path
        let exported = try runChild(try locateDiscern(), ["export", "--checkpoint", checkpoint, "--output", export, "--merge"],
                                    environment: childEnvironment, timeout: 120)
        XCTAssertEqual(exported.status, 0, exported.transcript)
        XCTAssertTrue(exported.standardOutput.contains("exported 14 LoRA modules"), exported.transcript)

        let base = try ModelDirectory(path: Self.qwen2VL)
        let images = try (0..<2).map { try loadImage(path: Self.qwen2VL + "/embed/image-\($0).png") }
        let captions = ["a red circle left of a blue square", "two shapes"]
        func embeddings(_ embedder: Embedder) throws -> [Float] { try embedder.embedImages(images) + embedder.embedTexts(captions) }
        let trained = try embeddings(try Embedder(directory: base, checkpoint: checkpoint))
        XCTAssertEqual(try embeddings(try Embedder(directory: base, adapters: export)), trained, "the export must read back as the checkpoint")
        XCTAssertGreaterThan(maxAbsoluteDifference(try embeddings(try Embedder(directory: base)), trained), 100 * Self.mergeTolerance,
                             "the trained adapters should move the embeddings")

        let merged = try ModelDirectory(path: export + "/merged")
        guard case .qwen2VL = merged.family else { return XCTFail("merged/ is not a Qwen2-VL directory") }
        let mergedKeys = try SafetensorsFile(path: export + "/merged/model.safetensors").names.sorted()
        XCTAssertEqual(mergedKeys, try SafetensorsFile(path: Self.qwen2VL + "/model.safetensors").names.sorted(), "merged/ keeps the hub layout")
        // merged/ carries LoRA; the soft prompts alone come from the export.
        let softOnly = folder.appendingPathComponent("soft-only").path
        try FileManager.default.createDirectory(atPath: softOnly, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: export + "/soft_prompts", toPath: softOnly + "/soft_prompts")
        let error = maxAbsoluteDifference(try embeddings(try Embedder(directory: merged, adapters: softOnly)), trained)
        XCTAssertLessThanOrEqual(error, Self.mergeTolerance, "merged/ + soft prompts against the checkpoint")
        print("qwen2vl export: merged/ vs adapters max abs \(error)")
    }

    /// An adapter tensor for a module this base lacks (layer 7 of a 2-layer model) is refused.
    func testAdapterNamingAModuleTheBaseLacksIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-stray-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lora = folder.appendingPathComponent("lora").path
        try FileManager.default.createDirectory(atPath: lora, withIntermediateDirectories: true)
        var writer = SafetensorsWriter()
        for layer in [0, 7] {
            let module = "base_model.model.model.language_model.layers.\(layer).self_attn.q_proj"
            try writer.add(module + ".lora_A.weight", shape: [2, 48], floats: [Float](repeating: 0.01, count: 96))
            try writer.add(module + ".lora_B.weight", shape: [48, 2], floats: [Float](repeating: 0.01, count: 96))
        }
        try writer.write(to: lora + "/adapter_model.safetensors")
        try #"{"peft_type": "LORA", "r": 2, "lora_alpha": 4}"#.write(toFile: lora + "/adapter_config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Embedder(directory: try ModelDirectory(path: Self.qwen2VL), adapters: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("layers.7.self_attn.q_proj.lora_A.weight names no linear layer"), "\(error)")
        }
    }

    func trainQwen2VL(in folder: URL) throws -> String {
        let data = folder.appendingPathComponent("data").path
        let writer = try ShardWriter(directory: data, split: "train", imageSize: 16, samplesPerShard: 10)
        var random = Xoshiro256(seed: 5)
        for i in 0..<12 {
            let image = (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }
            try writer.append(Sample(id: "s\(i)", image: image, short: "a red circle left of a blue square \(i)", long: "Sample number \(i)."))
        }
        try writer.finish()
        let run = folder.appendingPathComponent("run")
        let result = try runChild(try locateDiscern(), ["train", "--model", Self.qwen2VL, "--data", data, "--run-dir", run.path, "--steps", "2",
                                                        "--global-batch", "6", "--set", "lora.rank=4", "--set", "optimizer.lr=5e-3",
                                                        "--set", "optimizer.warmup=0"], environment: childEnvironment, timeout: 120)
        XCTAssertEqual(result.status, 0, result.transcript)
        return run.appendingPathComponent("step-00000002.h5").path
    }

    func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }
}
