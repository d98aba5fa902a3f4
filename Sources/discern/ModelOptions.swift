import ArgumentParser
import Configuration
import Foundation
import Layers
import Training

/// The model and the adapters applied to it, as `embed` and `eval` take them.
struct ModelOptions: ParsableArguments {
    @Option(help: "Hugging Face LLaVA model directory.", transform: expandedPath) var model: String
    @Option(help: "A training checkpoint (RUN_DIR/step-*.h5) whose adapters to apply.", transform: expandedPath) var checkpoint: String?
    @Option(help: "An export directory (discern export) whose LoRA and soft prompts to apply.", transform: expandedPath) var adapters: String?
    @Option(help: "Image preprocessing: crop (the Hugging Face processor) or pad (LLaVA training: pad to a square first); with --checkpoint, the checkpoint's own image.mode.")
    var imageMode: RunConfiguration.ImageMode = .crop
    @Flag(help: "Keep F16/BF16 base weights memory-mapped and widen them per use (a 7B model in ~14 GB instead of ~28 GB; same results).")
    var halfWeights = false
    @Option(help: "Precision of the products with the base weights: fp32, bf16 (needs AVX512_BF16 or AMX-BF16) or auto (bf16 where the CPU has it); see memory.compute in docs/config.md.")
    var compute: RunConfiguration.ComputeSetting = .fp32

    /// `--compute` on this CPU; the reason goes to standard error, as a run's first lines do
    /// (under mpirun from the first rank only).
    func computePrecision() throws -> ComputePrecision {
        let choice = try ComputeChoice(compute, fullModel: false)
        guard rank == "0" else { return choice.precision }
        FileHandle.standardError.write(Data("compute: \(choice.precision.rawValue) (\(choice.reason.replacingOccurrences(of: "memory.compute", with: "--compute")))\n".utf8))
        return choice.precision
    }

    func validate() throws {
        guard checkpoint == nil || adapters == nil else { throw ValidationError("give --checkpoint or --adapters, not both.") }
    }
}

extension RunConfiguration.ImageMode: ExpressibleByArgument {}
extension RunConfiguration.ComputeSetting: ExpressibleByArgument {}
