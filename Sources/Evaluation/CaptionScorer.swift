import Foundation
import Kernels
import Layers
import Models

/// How likely a generative model finds a caption after an image and the image prompt: the mean
/// log-probability of the caption's tokens (and EOS). Scoring every candidate caption this way
/// is a retrieval method in its own right, the reference for what the base model knows.
package final class CaptionScorer {
    let model: VisionLanguageModel<Float>
    let prompts: PromptBuilder
    let pass = VisionLanguageModel<Float>.Pass()
    let selected = GrowableBuffer<Float>(), logits = GrowableBuffer<Float>(), logSumExp = GrowableBuffer<Float>()
    package let batchSize: Int

    package init(model: VisionLanguageModel<Float>, prompts: PromptBuilder, batchSize: Int = 64) {
        self.model = model
        self.prompts = prompts
        self.batchSize = batchSize
    }

    /// Mean log-probability of each caption given one image: pixels (3, size, size).
    package func scores(image pixels: UnsafePointer<Float>, captions: [String]) throws -> [Double] {
        var result: [Double] = []
        let width = model.hidden, vocab = model.config.vocabularySize, head = model.language.lmHead
        for start in stride(from: 0, to: captions.count, by: batchSize) {
            let chunk = captions[start..<min(start + batchSize, captions.count)]
            let items = try chunk.map { try prompts.imageItem(imageIndex: 0, softPrompt: false, longCaption: $0) }
            let sequences = SequenceBatch(items: items.map(\.item), poolIndices: items.map(\.poolIndex))
            let hidden = model.forward(images: ImageBatch(pixels: pixels, count: 1), sequences: sequences, pass: pass)
            let rows = (0..<sequences.rows).filter { sequences.targets[$0] != -100 }
            guard !rows.isEmpty else { result += Array(repeating: 0, count: sequences.batch); continue }
            let chosen = selected.reserve(max(rows.count, 1) * width)
            for (i, r) in rows.enumerated() { (chosen + i * width).update(from: hidden + r * width, count: width) }
            let output = logits.reserve(max(rows.count, 1) * vocab)
            head.forward(chosen, rows: rows.count, into: output, tape: nil)
            // log p(target) = logit[target] - logsumexp(logits): the cross-entropy kernel's saved log-sum-exp.
            let targets = rows.map { sequences.targets[$0] }
            let logSumExp = self.logSumExp.reserve(max(rows.count, 1))
            _ = targets.withUnsafeBufferPointer {
                crossEntropyForward(logits: output, targets: $0.baseAddress!, logSumExp: logSumExp, rows: rows.count, vocab: vocab)
            }
            var sums = [Double](repeating: 0, count: sequences.batch), counts = [Int](repeating: 0, count: sequences.batch)
            for (i, r) in rows.enumerated() {
                sums[r / sequences.sequence] += Double(output[i * vocab + Int(targets[i])] - logSumExp[i])
                counts[r / sequences.sequence] += 1
            }
            result += zip(sums, counts).map { $0 / Double(max($1, 1)) }
        }
        return result
    }
}
