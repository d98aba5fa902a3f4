import ArgumentParser
import Benchmark
import Configuration
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the training step on a random LLaVA- or Qwen2-VL-shaped model: s/step, throughput, GFLOP/s against sgemm, time split, memory.",
        discussion: """
        The configuration is a training configuration with a `bench:` section for the model's family and shape (docs/performance.md).
        Examples:
          discern bench --config configs/bench-small.yaml --steps 10 --threads 1
          discern bench --config configs/bench-qwen2vl-2b-shape.yaml --steps 2 --threads 2
          mpirun -np 2 discern bench --config configs/bench-small.yaml --threads 1 --json runs/bench/2ranks.json
          ./launch/bench      (Discern and its PyTorch twin, alternately, 1 and 2 threads)
        """)

    @Option(help: "YAML configuration with a `bench:` section (e.g. configs/bench-small.yaml).", transform: expandedPath) var config: String
    @Option(help: "Timed steps after the warm-up.") var steps = 10
    @Option(help: "Threads per rank (BLAS and the other kernels).") var threads = 1
    @Option(name: .customLong("set"), help: "KEY=VALUE override of any configuration key, repeatable.") var overrides: [String] = []
    @Option(help: "Also write the report as JSON to this file.", transform: expandedPath) var json: String?

    func run() throws {
        var resolved = try ResolvedConfig.load(file: config)
        for assignment in overrides { try resolved.set(assignment) }
        guard threads > 0 else { throw ValidationError("--threads must be positive, got \(threads).") }
        try Benchmark.launch(config: resolved, configPath: config, steps: steps, threads: threads, json: json,
                             say: { print($0) }, report: { print(Self.summary($0)) })
    }
}

extension Bench {
    static func summary(_ r: Benchmark.Report) -> String {
        func f(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
        let s = r.split, whole = r.secondsPerStep.median
        func part(_ name: String, _ seconds: Double) -> String {
            "    \(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(f(seconds)) s  \(f(100 * seconds / whole, 1))%"
        }
        var lines = [
            "compute          \(r.precision)" + (r.precision == "bf16" ? " (products with frozen weights as bf16 GEMMs: the sgemm figures below cover the fp32 products only)" : ""),
            "s/step           median \(f(r.secondsPerStep.median)) (min \(f(r.secondsPerStep.min)), max \(f(r.secondsPerStep.max))) over \(r.steps) steps",
            "samples/s        \(f(r.samplesPerSecond, 2))",
            "tokens/s         \(f(r.tokensPerSecond, 0))",
            "FLOPs/step       \(String(format: "%.3e", r.flopsPerStep)) (analytic, docs/performance.md)",
            "GFLOP/s          \(f(r.gflops, 1)) (all ranks)",
        ]
        if let ceiling = r.sgemmGflops, let fraction = r.sgemmFraction {
            lines.append("sgemm GFLOP/s    \(f(ceiling, 1)) per rank at this step's GEMM shapes; reached \(f(100 * fraction, 1))%")
        }
        if r.slowestGemms.isEmpty {
            lines.append("GEMMs alone      not measured (BLAS calls cannot be observed on this platform)")
        } else {
            lines.append("GEMMs alone      \(f(r.gemmSeconds.large)) s large + \(f(r.gemmSeconds.thin)) s thin (< 32 in some dimension) per step; slowest:")
            lines += r.slowestGemms.map { "    \($0)" }
        }
        lines.append("peak RSS         \(f(Double(r.peakRSSBytes) / 1048576, 1)) MiB (largest rank)")
        lines.append("heap allocations " + (r.allocationsPerStep.map {
            "\(f($0.compute, 1)) per step in forward/backward/collectives/update, \(f($0.preparation, 1)) in batch preparation (rank 0)"
        } ?? "not counted on this platform"))
        lines.append("time split (median per part, rank 0):")
        lines += [part("vision forward", s.visionForward), part("LLM forward", s.llmForward), part("LLM backward", s.llmBackward),
                  part("optimizer", s.optimizer), part("communication", s.communication)]
        return lines.joined(separator: "\n")
    }
}
