import ArgumentParser
import Datasets
import Foundation
import Kernels

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate the synthetic compositional data set (coloured shapes, relations, hard negatives): the embedded default.",
        discussion: "Writes DIR/train and DIR/eval shards (docs/data.md, docs/synthetic.md). Same seed and options, same bytes.")

    @Option(help: "Output data set directory.") var output: String
    @Option(help: "Training pairs.") var train = 20_000
    @Option(help: "Evaluation images, one per distinct short caption, each with hard negatives.") var eval = 500
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Image side in pixels (the model's vision image_size).") var imageSize = 32
    @Option(help: "Most objects per scene (2-4).") var maxObjects = 3
    @Flag(help: "Name sizes in the short captions (\"a small red circle ...\").") var sizesInCaptions = false
    @Flag(help: "Give every training pair one hard negative caption (stored, for training use).") var trainNegatives = false
    @Flag(help: "Let an eval caption also fit other eval images (more distinct captions; retrieval then has several right answers).")
    var sharedEvalCaptions = false
    @Option(help: "Samples per shard file.") var samplesPerShard = 2_000
    @Option(help: "Rendering threads.") var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        KernelThreads.count = max(threads, 1)
        var options = SyntheticOptions(maxObjects: maxObjects, sizesInShortCaption: sizesInCaptions, trainNegatives: trainNegatives)
        options.rendering.imageSize = imageSize
        options.exclusiveEvalCaptions = !sharedEvalCaptions
        try options.validate()
        let dataset = try SyntheticDataset(seed: seed, options: options)
        let started = Date()
        let evalSamples = try dataset.evalSamples(count: eval)
        let evalWriter = try ShardWriter(directory: output, split: "eval", imageSize: imageSize, samplesPerShard: samplesPerShard,
                                         createdBy: "discern synth --seed \(seed)")
        for sample in evalSamples { try evalWriter.append(sample) }
        try evalWriter.finish()
        let writer = try ShardWriter(directory: output, split: "train", imageSize: imageSize, samplesPerShard: samplesPerShard,
                                     createdBy: "discern synth --seed \(seed)")
        let chunk = 1_000
        for start in stride(from: 0, to: train, by: chunk) {
            for sample in dataset.trainSamples(start..<min(start + chunk, train)) { try writer.append(sample) }
            FileHandle.standardError.write(Data(String(format: "\rsynth: %d/%d training pairs", min(start + chunk, train), train).utf8))
        }
        if train > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        try writer.finish()
        print(String(format: "wrote %d training and %d evaluation pairs (%dx%d) to %@ in %.1f s", train, eval, imageSize, imageSize,
                     output, Date().timeIntervalSince(started)))
    }
}
