import CAllocationCounter
import Communication
import Configuration
import Dispatch
import Foundation
import Kernels
import Layers
import ModelFactory
import ModelFiles
import Models
import Training

/// `discern bench`: the real training step (TrainingStep + ParameterUpdate) on a random
/// LLaVA- or Qwen2-VL-shaped model and a fixed synthetic batch, timed after a warm-up, with the numbers
/// docs/performance.md explains: step time, throughput, analytic FLOPs against cblas_sgemm at
/// the step's own GEMM shapes, the time split, peak memory and heap allocations per step.
package final class Benchmark {
    package struct Report: Codable, Sendable {
        package struct Spread: Codable, Sendable { package var median, min, max: Double }
        package struct Split: Codable, Sendable {
            package var visionForward, llmForward, llmBackward, optimizer, communication: Double
            enum CodingKeys: String, CodingKey {
                case visionForward = "vision_forward", llmForward = "llm_forward", llmBackward = "llm_backward", optimizer, communication
            }
            package var total: Double { visionForward + llmForward + llmBackward + optimizer + communication }
        }
        package struct Losses: Codable, Sendable { package var contrastive, ntp: Double }
        /// Heap allocations per timed step: in the forward, backward, collectives and update
        /// (`compute`, the steady state that must not allocate), and in turning captions into
        /// token sequences (`preparation`: tokenizer and prompt arrays).
        package struct Allocations: Codable, Sendable { package var compute, preparation: Double }
        /// Per step, the GEMMs alone: each product timed by itself at the step's shapes, so the
        /// step's time beyond their sum is everything else (and the cache effects between them).
        package struct GemmSeconds: Codable, Sendable { package var large, thin: Double }
        package var tool = "discern"
        package var config: String
        /// memory.compute as resolved on this CPU: fp32 or bf16.
        package var precision: String
        package var threads: Int
        package var ranks: Int
        package var steps: Int
        package var batch: Int
        package var parameters: Int
        package var trainableParameters: Int
        package var secondsPerStep: Spread
        package var samplesPerSecond: Double
        package var tokensPerSecond: Double
        package var flopsPerStep: Double
        package var gflops: Double
        package var sgemmGflops: Double?
        package var sgemmFraction: Double?
        package var gemmSeconds: GemmSeconds
        package var slowestGemms: [GemmLine]
        package var peakRSSBytes: Int
        package var split: Split
        package var allocationsPerStep: Allocations?
        package var firstLoss: Losses

        enum CodingKeys: String, CodingKey {
            case tool, config, precision, threads, ranks, steps, batch, parameters
            case trainableParameters = "trainable_parameters", secondsPerStep = "seconds_per_step", samplesPerSecond = "samples_per_second"
            case tokensPerSecond = "tokens_per_second", flopsPerStep = "flops_per_step", gflops, sgemmGflops = "sgemm_gflops"
            case sgemmFraction = "sgemm_fraction", gemmSeconds = "gemm_seconds_per_step", slowestGemms = "slowest_gemms", peakRSSBytes = "peak_rss_bytes", split = "split_seconds"
            case allocationsPerStep = "allocations_per_step", firstLoss = "first_loss"
        }
    }

    let configuration: RunConfiguration
    let bench: BenchConfiguration
    let configPath: String
    let communicator: Communicator
    let settings: BenchmarkSettings
    /// The process's heap-allocation counter (CAllocationCounter), nil where it cannot count.
    let allocationCount: (() -> UInt64)? = discern_allocation_counting_active() != 0 ? { discern_allocation_count() } : nil

    package init(config: ResolvedConfig, configPath: String, communicator: Communicator) throws {
        configuration = RunConfiguration(config)
        bench = BenchConfiguration(config)
        self.configPath = configPath
        self.communicator = communicator
        settings = try BenchmarkSettings(bench)
    }

    /// What the timed steps measured, per step.
    struct Measured {
        var seconds: [Double] = [], splits: [Report.Split] = [], flops = 0.0, tokens = 0
        var computeAllocations: UInt64 = 0, preparationAllocations: UInt64 = 0
    }

    /// Builds the model and batch, runs `warmup` + `steps` steps on `threads` threads per rank.
    package func run(steps: Int, threads: Int, say: (String) -> Void) throws -> Report {
        guard steps > 0 else { throw ConfigError("--steps must be positive, got \(steps).") }
        let modelConfig = try settings.modelConfig()
        let prompts = try PromptBuilder(encoder: settings.encoding, templates: settings.templates, imageTokenID: settings.imageTokenID,
                                        eosTokenID: 2, imageTokens: settings.imageTokensPerImage, maxPositions: modelConfig.maxPositions,
                                        imageMarkup: settings.imageMarkup)
        let run = try RunSettings(configuration, softPromptLengths: (settings.promptTokens, settings.promptTokens), worldSize: communicator.size)
        setThreads(threads, bfloat16Compute: run.compute.precision == .bf16)
        let model = try makeModel(modelConfig, run: run, prompts: prompts, say: say)
        let update = ParameterUpdate(parameters: model.parameters, schedule: run.schedule, configuration: configuration)
        let step = TrainingStep(model: model, prompts: prompts, communicator: communicator, settings: run.step)
        let batch = makeBatch(model, split: run.batch, seed: run.seed)
        let total = model.parameters.parameters.reduce(0) { $0 + $1.count }, trainable = model.parameters.trainableValues.count
        if communicator.rank == 0 {
            let parts = ParameterCounts(model.modelDescription)
            say("bench: \(describe(modelConfig)); \(total) parameters (base: vision \(parts.vision), connector \(parts.connector), "
                + "language \(parts.language)), \(trainable) trainable; \(run.globalBatch) pairs per step "
                + "on \(communicator.size) rank(s) x \(threads) thread(s); \(settings.warmup) warm-up + \(steps) timed steps")
            say("bench: compute \(run.compute.precision.rawValue) (\(run.compute.reason))")
        }
        let (shapes, firstLoss) = try warmUp(step, update: update, batch: batch)
        let measured = try timedSteps(steps, step: step, update: update, batch: batch, say: say)
        // The step's peak memory, before the ceiling measurement allocates its own operands.
        let stepPeak = Self.peakResidentBytes()
        return try summarize(measured, shapes: shapes, precision: run.compute.precision, steps: steps, threads: threads,
                             globalBatch: run.globalBatch, stepPeak: stepPeak,
                             parameters: (total, trainable), firstLoss: firstLoss)
    }

    /// Warm-up steps; the first also records the GEMM shapes (that step is never timed).
    func warmUp(_ step: TrainingStep, update: ParameterUpdate, batch: TrainingBatch) throws -> (GemmShapeLog, Report.Losses) {
        let shapes = GemmShapeLog()
        var firstLoss = Report.Losses(contrastive: 0, ntp: 0)
        for index in 0..<max(settings.warmup, 1) {
            let result = index == 0 ? try shapes.record { try step.run(batch, step: index) } : try step.run(batch, step: index)
            if index == 0 { firstLoss = Report.Losses(contrastive: result.contrastiveLoss, ntp: result.ntpLoss) }
            _ = update.apply(step: index)
        }
        return (shapes, firstLoss)
    }

    /// The timed steps: wall time, its split, and the heap allocations of preparation and compute.
    func timedSteps(_ steps: Int, step: TrainingStep, update: ParameterUpdate, batch: TrainingBatch, say: (String) -> Void) throws -> Measured {
        var measured = Measured()
        for index in 0..<steps {
            let start = DispatchTime.now().uptimeNanoseconds
            let beforePreparation = allocationCount?() ?? 0
            let prepared = try step.prepare(batch, step: settings.warmup + index)
            let beforeCompute = allocationCount?() ?? 0
            let result = try step.run(prepared)
            let updateStart = DispatchTime.now().uptimeNanoseconds
            _ = update.apply(step: settings.warmup + index)
            let afterCompute = allocationCount?() ?? 0
            let end = DispatchTime.now().uptimeNanoseconds
            measured.preparationAllocations += beforeCompute - beforePreparation
            measured.computeAllocations += afterCompute - beforeCompute
            measured.seconds.append(Double(end - start) / 1e9)
            measured.splits.append(Report.Split(visionForward: result.timing.vision, llmForward: result.timing.forward,
                                                llmBackward: result.timing.backward, optimizer: Double(end - updateStart) / 1e9,
                                                communication: result.timing.communication))
            measured.flops = result.flops
            measured.tokens = result.tokens
            if communicator.rank == 0 {
                say(String(format: "  step %d/%d  %.3f s", index + 1, steps, measured.seconds.last!))
            }
        }
        return measured
    }

    /// The report: medians, the sgemm ceiling at the recorded shapes (measured now, in this
    /// process, after the timed steps) and the largest rank's peak memory.
    func summarize(_ measured: Measured, shapes: GemmShapeLog, precision: ComputePrecision, steps: Int, threads: Int, globalBatch: Int, stepPeak: Int,
                   parameters: (total: Int, trainable: Int), firstLoss: Report.Losses) throws -> Report {
        let timings = shapes.measureFloat()
        let large = timings.filter { $0.isLarge() }
        let largeSeconds = large.reduce(0) { $0 + Double($1.count) * $1.seconds }
        let ceiling = largeSeconds > 0 ? large.reduce(0) { $0 + Double($1.count) * $1.shape.flops } / largeSeconds / 1e9 : nil
        let median = Self.median(measured.seconds)
        func medianSplit(_ part: (Report.Split) -> Double) -> Double { Self.median(measured.splits.map(part)) }
        let gflops = measured.flops / median / 1e9
        let peak = Int(try communicator.allReduceMax(Int64(stepPeak)))
        let allocations = allocationCount.map { _ in
            Report.Allocations(compute: Double(measured.computeAllocations) / Double(steps),
                               preparation: Double(measured.preparationAllocations) / Double(steps))
        }
        return Report(config: configPath, precision: precision.rawValue, threads: threads, ranks: communicator.size, steps: steps, batch: globalBatch,
                      parameters: parameters.total, trainableParameters: parameters.trainable,
                      secondsPerStep: .init(median: median, min: measured.seconds.min()!, max: measured.seconds.max()!),
                      samplesPerSecond: Double(globalBatch) / median, tokensPerSecond: Double(measured.tokens) / median,
                      flopsPerStep: measured.flops, gflops: gflops,
                      sgemmGflops: ceiling, sgemmFraction: ceiling.map { gflops / $0 / Double(communicator.size) },
                      gemmSeconds: .init(large: largeSeconds, thin: timings.reduce(0) { $0 + Double($1.count) * $1.seconds } - largeSeconds),
                      slowestGemms: timings.prefix(8).map { GemmLine($0) },
                      peakRSSBytes: peak,
                      split: .init(visionForward: medianSplit(\.visionForward), llmForward: medianSplit(\.llmForward),
                                   llmBackward: medianSplit(\.llmBackward), optimizer: medianSplit(\.optimizer),
                                   communication: medianSplit(\.communication)),
                      allocationsPerStep: allocations, firstLoss: firstLoss)
    }

    /// A model with random base weights and PEFT-initialised adapters. `memory`: the weights
    /// `discern init-model` would draw, made in memory. `float16` / `bfloat16`: a random 16-bit
    /// model directory (writeRandomHalfModel) in bench.model_dir, written by rank 0 unless its
    /// fingerprint says it already holds this model (`prepareModelDirectory`), then loaded
    /// through ModelDirectory like a real model (so memory.half_weights acts).
    func makeModel(_ modelConfig: any VisionLanguageConfig, run: RunSettings, prompts: PromptBuilder, say: (String) -> Void) throws -> VisionLanguageModel<Float> {
        let model: VisionLanguageModel<Float>
        if let request = settings.randomModelRequest(seed: run.seed) {
            if communicator.rank == 0 { try prepareModelDirectory(request, say: say) }
            try communicator.barrier()
            model = try ModelDirectory(path: bench.modelDir).loadModel(trainable: run.trainable, memory: run.memory)
        } else {
            try modelConfig.checkMemoryFits(bytesPerValue: MemoryLayout<Float>.size, source: "the bench section of the configuration")
            model = try makeModelInMemory(modelConfig, run: run)
        }
        model.initializeAdapters(seed: run.seed, prompts: prompts)
        if run.trainable.logitScale {
            model.parameters[ObjectiveParameterName.logitScale].value[0] = Float(run.initialLogitScale)
        }
        if communicator.rank == 0 && (run.memory.halfWeights || run.memory.recompute) && run.memory.compute == .fp32 {
            let half = model.parameters.halfParameters
            say(String(format: "bench: %d weights (%.2f GB) stay 16-bit%@; recompute %@", half.count,
                       Double(half.reduce(0) { $0 + $1.half!.byteCount }) / 1e9,
                       half.isEmpty && run.memory.halfWeights ? " (memory.half_weights needs bench.weights float16 or bfloat16)" : "",
                       run.memory.recompute ? "on" : "off"))
        }
        return model
    }

    /// The random weights `discern init-model` would draw, made in memory. In bf16 compute the
    /// frozen ones a linear layer or a row lookup reads are rounded to bf16 once, as a model
    /// directory's float32 weights are at load.
    func makeModelInMemory(_ modelConfig: any VisionLanguageConfig, run: RunSettings) throws -> VisionLanguageModel<Float> {
        let description = modelConfig.modelDescription
        func values(_ tensor: TensorBlueprint) -> [Float] {
            initialTensor(name: tensor.name, shape: tensor.shape, config: modelConfig, padTokenID: settings.padTokenID, seed: run.seed)
        }
        var half: [String: HalfMatrix] = [:]
        if run.memory.compute == .bf16 {
            for tensor in description.halfCandidates(trainable: run.trainable) {
                let storage = OwnedBFloat16Storage(count: tensor.count)
                narrowToBFloat16(values(tensor), storage.pointer, count: tensor.count)
                half[tensor.name] = storage.matrix(rows: tensor.shape[0], columns: tensor.shape[1])
            }
        }
        let model = try VisionLanguageModel<Float>(config: modelConfig, trainable: run.trainable, halfWeights: half,
                                                   recompute: run.memory.recompute, compute: run.memory.compute)
        for tensor in description.tensors where half[tensor.name] == nil {
            let tensorValues = values(tensor)
            model.parameters[tensor.name].value.update(from: tensorValues, count: tensorValues.count)
        }
        return model
    }

    /// Writes the random model of `request` to bench.model_dir unless its fingerprint says the
    /// directory already holds it; replaces a bench model of another fingerprint, and never
    /// touches a directory that is not one.
    func prepareModelDirectory(_ request: RandomHalfModelRequest, say: (String) -> Void) throws {
        let path = bench.modelDir, format = request.format.rawValue
        let state = try request.state(of: path)
        switch state {
        case .matches:
            say("bench: reusing the random \(format) model in \(path): its fingerprint (family, shape, format, seed) matches")
            return
        case .foreign(let why):
            throw ConfigError("bench.model_dir \(path) \(why); delete it to have the benchmark model written there, or set bench.model_dir elsewhere.")
        case .differs(let why):
            say("bench: \(path) holds another random model (\(why)); rewriting it")
        case .missing:
            say("bench: writing a random \(format) model to \(path) (reused by later runs while its fingerprint matches)")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let written = try writeRandomHalfModel(request, directory: path, force: state != .missing)
        say(String(format: "bench: wrote %.2f GB in %d shard(s) in %.1f s", Double(written.bytes) / 1e9, written.shards,
                   Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
    }

    /// This rank's share of one fixed global batch: N(0, 1) pixels (for Qwen2-VL, its patch rows)
    /// and captions of `captionTokens` random word ids, the same whatever the number of ranks.
    func makeBatch(_ model: VisionLanguageModel<Float>, split: BatchSplit, seed: UInt64) -> TrainingBatch {
        let positions = split.positions(rank: communicator.rank), globalBatch = split.global
        let grid = settings.imageGrid, pixelsPerImage = model.vision.inputValues(grid: grid)
        var random = Xoshiro256(seed: seed ^ 0xbe4c)
        var pixels: [Float] = [], captions: [String?] = []
        for index in 0..<globalBatch {
            let image = (0..<pixelsPerImage).map { _ in Float(random.normal() as Double) }
            let words = (0..<settings.captionTokens).map { _ in "t\(3 + Int(random.next() % UInt64(settings.firstSpecialID - 3)))" }
            guard positions.contains(index) else { continue }
            pixels += image
            captions.append(words.joined(separator: " "))
        }
        return TrainingBatch(pixels: pixels, imageGrids: grid.map { Array(repeating: $0, count: captions.count) } ?? [],
                             shortCaptions: captions, longCaptions: captions, globalOffset: positions.lowerBound)
    }

    func describe(_ config: any VisionLanguageConfig) -> String {
        let t = config.decoder
        let language = "LLM \(t.hiddenSize)x\(t.numHiddenLayers), \(t.numAttentionHeads)/\(t.numKeyValueHeads) heads, ffn \(t.intermediateSize), "
            + "vocab \(t.vocabSize)\(t.tieWordEmbeddings ? ", tied head" : "")"
        if let c = config as? LlavaConfig {
            let v = c.vision
            return "LLaVA: vision \(v.hiddenSize)x\(v.numHiddenLayers) (\(c.visionLayersUsed) used), \(v.imageSize)px/\(v.patchSize); " + language
        }
        if let c = config as? Qwen2VLConfig, let grid = settings.imageGrid {
            let v = c.vision
            return "Qwen2-VL: vision \(v.embedDim)x\(v.depth), \(v.numHeads) heads, mlp \(v.mlpWidth), \(settings.imageSize)px/\(v.patchSize) = "
                + "\(grid.rows * grid.columns) patches, merge \(v.spatialMergeSize) -> \(settings.imageTokensPerImage) tokens; " + language
                + ", M-RoPE \(c.mropeSection)"
        }
        return config.modelType + "; " + language
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Peak resident set size of this process (getrusage; Linux reports KiB).
    package static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }
}

/// One product of the step in the benchmark report, e.g. "NT 720x1376x512 x8: 1.2 ms, 61 GFLOP/s".
package struct GemmLine: Codable, Sendable, CustomStringConvertible {
    package var shape: String
    package var calls: Int
    package var seconds: Double
    package var gflops: Double

    init(_ timing: GemmShapeLog.Timing) {
        let s = timing.shape
        shape = "\(s.transA ? "T" : "N")\(s.transB ? "T" : "N") \(s.m)x\(s.n)x\(s.k)"
        calls = timing.count
        seconds = timing.seconds * Double(timing.count)
        gflops = timing.gflops
    }

    package var description: String {
        "\(shape.padding(toLength: 20, withPad: " ", startingAt: 0)) x\(calls)  \(String(format: "%.1f ms  %.1f GFLOP/s", 1000 * seconds, gflops))"
    }
}
