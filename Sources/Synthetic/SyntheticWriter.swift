import Datasets
import Kernels

extension SyntheticDataset {
    /// Writes `output`/eval (`eval` images) and `output`/train (`train` pairs) as shards, rendering
    /// on `threads` threads; `progress` gets the training pairs written so far, every 1,000.
    /// `createdBy` is stored in dataset.json: the command that makes the data set again.
    package func write(to output: String, train: Int, eval: Int, samplesPerShard: Int, createdBy: String, threads: Int,
                      progress: (Int) -> Void = { _ in }) throws {
        KernelThreads.count = max(threads, 1)
        let imageSize = options.rendering.imageSize
        let evalWriter = try ShardWriter(directory: output, split: "eval", imageSize: imageSize, samplesPerShard: samplesPerShard,
                                         createdBy: createdBy)
        for sample in try evalSamples(count: eval) { try evalWriter.append(sample) }
        try evalWriter.finish()
        let writer = try ShardWriter(directory: output, split: "train", imageSize: imageSize, samplesPerShard: samplesPerShard,
                                     createdBy: createdBy)
        let chunk = 1_000
        for start in stride(from: 0, to: train, by: chunk) {
            for sample in trainSamples(start..<min(start + chunk, train)) { try writer.append(sample) }
            progress(min(start + chunk, train))
        }
        try writer.finish()
    }
}
