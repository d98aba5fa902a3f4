import ArgumentParser
import Foundation
import PEFT
import Runs

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint's adapters for Hugging Face tools: a PEFT LoRA adapter and the soft prompts.",
        discussion: "Writes DIR/lora (PEFT), DIR/soft_prompts, DIR/README.md and DIR/example.py; with --merge also DIR/merged, a plain transformers model with LoRA folded in. See docs/export.md.")

    @Option(help: "Training checkpoint (RUN_DIR/step-*.h5).", transform: expandedPath) var checkpoint: String
    @Option(help: "The base model directory it was trained on (default: the checkpoint's `model`).", transform: expandedPath) var model: String?
    @Option(help: "Output directory (replaced if it exists).", transform: expandedPath) var output: String
    @Flag(help: "Also write a full model directory with LoRA merged into the weights.") var merge = false

    func run() throws {
        let modelPath = try model ?? storedModelPath()
        let export = try AdapterExport(checkpoint: checkpoint, modelPath: modelPath)
        let summary = try export.write(to: output, merge: merge)
        print("exported \(summary.loraModules) LoRA modules and soft prompts [\(summary.softPrompts.joined(separator: ", "))] "
              + "to \(output)\(summary.merged ? " (with merged/)" : ""); see \(output)/README.md")
    }

    func storedModelPath() throws -> String {
        let path = try CheckpointModelPath.read(checkpoint)
        guard !path.isEmpty else { throw ValidationError("the checkpoint does not record its model; pass --model DIR.") }
        return path
    }
}
