import ArgumentParser
import Configuration

/// The model and the adapters applied to it, as `embed` and `eval` take them.
struct ModelOptions: ParsableArguments {
    @Option(help: "Hugging Face LLaVA model directory.", transform: expandedPath) var model: String
    @Option(help: "A training checkpoint (RUN_DIR/step-*.h5) whose adapters to apply.", transform: expandedPath) var checkpoint: String?
    @Option(help: "An export directory (discern export) whose LoRA and soft prompts to apply.", transform: expandedPath) var adapters: String?
    @Option(help: "Image preprocessing: crop (the Hugging Face processor) or pad (LLaVA training: pad to a square first); with --checkpoint, the checkpoint's own image.mode.")
    var imageMode: RunConfiguration.ImageMode = .crop
    @Flag(help: "Keep F16/BF16 base weights memory-mapped and widen them per use (a 7B model in ~14 GB instead of ~28 GB; same results).")
    var halfWeights = false

    func validate() throws {
        guard checkpoint == nil || adapters == nil else { throw ValidationError("give --checkpoint or --adapters, not both.") }
    }
}

extension RunConfiguration.ImageMode: ExpressibleByArgument {}
