import ArgumentParser
import Configuration
import Foundation
import Runs

/// Set by SIGTERM / SIGINT; the training loop stops at the next step boundary, writes a
/// checkpoint and exits with status 75, so a preempted job resumes where it stopped.
nonisolated(unsafe) var stopSignalReceived: sig_atomic_t = 0

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train soft prompts and LoRA adapters (VladVA) or a whole model, alone or under mpirun.",
        discussion: """
        Flags override the configuration file, which overrides the defaults (docs/config.md).
        Examples:
          discern train --config configs/tiny.yaml
          mpirun -np 2 discern train --config configs/tiny.yaml --steps 200 --set optimizer.lr=3e-4
          discern train --config configs/tiny.yaml --resume auto
        """)

    @Option(help: "YAML configuration file.") var config: String?
    @Option(help: "Model directory (overrides `model`).") var model: String?
    @Option(help: "Data directory (overrides `data`).") var data: String?
    @Option(help: "Run directory for metrics and checkpoints (overrides `run_dir`).") var runDir: String?
    @Option(help: "Optimizer steps (overrides `steps`).") var steps: Int?
    @Option(help: "Pairs per step over all ranks (overrides `global_batch`).") var globalBatch: Int?
    @Option(name: .customLong("set"), help: "KEY=VALUE override of any configuration key, repeatable.") var overrides: [String] = []
    @Option(help: "`auto` (the latest complete checkpoint in the run directory; fresh when none) or a checkpoint file.") var resume: String?
    @Option(help: "Stop after this step (checkpoint written), keeping the schedule of the full run; resume later with --resume auto.")
    var stopAt: Int?

    func run() throws {
        // First, so that a stop signal during start-up (MPI, loading) is not lost: it stops the
        // run at the first step boundary.
        signal(SIGTERM) { _ in stopSignalReceived = 1 }
        signal(SIGINT) { _ in stopSignalReceived = 1 }
        var resolved = try config.map { try ResolvedConfig.load(file: $0) } ?? ResolvedConfig()
        for assignment in overrides { try resolved.set(assignment) }
        // Flags go through the same checks as the file: ranges, and `~` in paths.
        if let model { try resolved.set(.model, text: model) }
        if let data { try resolved.set(.data, text: data) }
        if let runDir { try resolved.set(.runDirectory, text: runDir) }
        if let steps { try resolved.set(.steps, text: String(steps)) }
        if let globalBatch { try resolved.set(.globalBatch, text: String(globalBatch)) }

        let status = try TrainingRun.launch(config: resolved, resume: resume, stopAt: stopAt, stopSignal: { stopSignalReceived != 0 })
        if status != 0 { Foundation.exit(status) }
    }
}
