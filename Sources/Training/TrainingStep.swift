import Communication
import Kernels
import Layers
import Models
import Objectives

/// One optimizer step's gradient on one rank (docs/method.md sections 4-5):
///   1. image and text towers forward, chunk by chunk, keeping only the embeddings;
///   2. embeddings all-gathered; the rank's rows and columns of the global contrastive loss
///      differentiated w.r.t. ALL gathered embeddings; a reduce-scatter hands each rank the exact
///      gradient of its own embeddings. Hard negative captions (settings.hardNegatives per pair) run
///      through the text tower too and are gathered behind the captions as extra keys of every image
///      row, their gradients reduce-scattered the same way;
///   3. chunk by chunk, the towers run again (only when there is more than one chunk: GradCache)
///      and backpropagate those embedding gradients; the next-token loss on long captions
///      (image + image prompt + caption) runs forward and backward per chunk, divided by the
///      GLOBAL token count. The image sequence is the caption sequence's prefix and attention is
///      causal, so when each pair has one next-token caption the image pass IS the caption pass:
///      one forward gives the image embedding (at the summary position) and the next-token
///      logits (after it), and one backward takes both gradients ("shared image pass");
///   4. the flat gradient vector is all-reduced (summed): every rank then holds the gradient of
///      the global loss, whatever the number of ranks and chunks.
package final class TrainingStep: @unchecked Sendable {
    package let model: VisionLanguageModel<Float>
    package let prompts: PromptBuilder
    package let communicator: Communicator
    package let settings: StepSettings
    let logitScale: Parameter<Float>?
    let exchange: EmbeddingExchange
    let flopCount: StepFlops
    let clock = StepClock()

    let imagePass = VisionLanguageModel<Float>.Pass(), textPass = VisionLanguageModel<Float>.Pass(), ntpPass = VisionLanguageModel<Float>.Pass()
    let negativePass = VisionLanguageModel<Float>.Pass()
    let imagePooling = EmbeddingPooling<Float>(), textPooling = EmbeddingPooling<Float>(), negativePooling = EmbeddingPooling<Float>()
    let nextToken = NextTokenLoss<Float>()
    let contrastive = ContrastiveLoss<Float>()
    let scratch = ModelScratch<Float>(), poolScratch = GrowableBuffer<Float>()
    let localImages = GrowableBuffer<Float>(), localTexts = GrowableBuffer<Float>()        // (B, D)
    let localNegatives = GrowableBuffer<Float>(), dLocalNegatives = GrowableBuffer<Float>() // (B K, D): K hard negatives per pair
    let globalImages = GrowableBuffer<Float>(), globalTexts = GrowableBuffer<Float>()      // (N, D)
    let dGlobalImages = GrowableBuffer<Float>(), dGlobalTexts = GrowableBuffer<Float>()    // (N, D); texts (N + N K, D) with negatives
    let dLocalImages = GrowableBuffer<Float>(), dLocalTexts = GrowableBuffer<Float>()      // (B, D)
    let dHidden = GrowableBuffer<Float>()
    let localValid = GrowableArray<UInt8>(), globalValid = GrowableArray<UInt8>()
    let globalDuplicateKeys = GrowableArray<Int64>()                                        // (N, 2): image, caption
    var sums = [Double](repeating: 0, count: StepTotals.count)   // StepTotals, summed over ranks
    // Set at the start of each step.
    var totals = StepTotals()
    var globalTargets = 0

    package init(model: VisionLanguageModel<Float>, prompts: PromptBuilder, communicator: Communicator, settings: StepSettings) {
        self.model = model
        self.prompts = prompts
        self.communicator = communicator
        self.settings = settings
        exchange = EmbeddingExchange(communicator: communicator)
        flopCount = StepFlops(model: model)
        logitScale = model.parameters.contains(ObjectiveParameterName.logitScale) ? model.parameters[ObjectiveParameterName.logitScale] : nil
    }

    struct Chunk: Sendable {
        let range: Range<Int>
        /// Where the chunk's first image starts in the batch's pixels, and its images' grids
        /// (empty for a fixed-size family).
        let pixelOffset: Int
        let imageGrids: [PatchGrid]
        /// Multiply-adds of the chunk's images through the vision encoder (FLOP counts).
        let visionMACs: Double
        /// Image sequences; with a shared image pass they carry the next-token targets too.
        let images: SequenceBatch
        let texts: SequenceBatch
        /// The pairs' hard negative captions (K per pair, pair by pair), when the loss uses them.
        let negatives: SequenceBatch?
        /// Separate next-token sequences, when the image pass cannot carry them.
        let generative: SequenceBatch?
    }

    /// One next-token caption per pair and a contrastive loss to compute: the image pass
    /// carries the caption (see the type's documentation).
    var sharesImagePass: Bool {
        settings.contrastiveWeight > 0 && settings.ntpWeight > 0 && settings.ntpCaptions != .both
    }

    /// The caption(s) the next-token loss reads for pair `i`.
    func generativeCaptions(_ batch: TrainingBatch, _ i: Int) -> [String?] {
        switch settings.ntpCaptions {
        case .long: return [batch.longCaptions[i]]
        case .short: return [batch.shortCaptions[i]]
        case .both: return [batch.shortCaptions[i], batch.longCaptions[i]]
        }
    }

    /// Key of sample `index` (its position in the step's global batch) in `pass`, for dropout
    /// masks that do not depend on ranks or micro-batches.
    func sampleKey(_ batch: TrainingBatch, _ index: Int, pass: DropoutPass) -> UInt64 {
        mixBits(UInt64(batch.globalOffset + index) | pass.number << 40)
    }

    func chunks(_ batch: TrainingBatch, step: Int) throws -> [Chunk] {
        let size = settings.microBatch > 0 ? min(settings.microBatch, batch.count) : batch.count
        let soft = settings.softPrompts
        let dropout = (model.trainableSet.lora?.dropout ?? 0) > 0
        let stepSeed = mixBits(settings.dropoutSeed ^ mixBits(UInt64(step)))
        return try stride(from: 0, to: batch.count, by: max(size, 1)).map { start in
            let range = start..<min(start + size, batch.count)
            // Image i's feature rows within its chunk's image batch: images may differ in size.
            var firstFeature = [Int](), tokens = [Int]()
            for i in range {
                firstFeature.append((firstFeature.last ?? 0) + (tokens.last ?? 0))
                tokens.append(model.vision.tokens(grid: batch.imageGrids.isEmpty ? nil : batch.imageGrids[i]))
            }
            func imageItem(_ i: Int, longCaption: String? = nil) throws -> (item: SequenceBatch.Item, poolIndex: Int) {
                try prompts.imageItem(firstFeature: firstFeature[i - start], tokens: tokens[i - start], softPrompt: soft, longCaption: longCaption)
            }
            var images: SequenceBatch
            if sharesImagePass {
                let items = try range.map { try imageItem($0, longCaption: generativeCaptions(batch, $0)[0]) }
                images = SequenceBatch(items: items.map(\.item), poolIndices: items.map(\.poolIndex), padding: .right)
            } else {
                images = SequenceBatch(items: try range.map { try imageItem($0).item }, padding: .right)
            }
            var texts = SequenceBatch(items: try range.map { try prompts.textItem(caption: batch.shortCaptions[$0] ?? "", softPrompt: soft) },
                                      padding: .right)
            var negatives: SequenceBatch?
            let perPair = settings.hardNegatives
            if perPair > 0 && settings.contrastiveWeight > 0 {
                precondition(batch.negativesPerPair == perPair, "TrainingStep: \(perPair) hard negatives per pair asked, the batch carries \(batch.negativesPerPair)")
                let rows = (range.lowerBound * perPair)..<(range.upperBound * perPair)
                negatives = SequenceBatch(items: try rows.map { try prompts.textItem(caption: batch.negativeCaptions[$0] ?? "", softPrompt: soft) },
                                          padding: .right)
            }
            if dropout {
                images.keyRows(sampleKeys: range.map { sampleKey(batch, $0, pass: .image) }, seed: stepSeed)
                texts.keyRows(sampleKeys: range.map { sampleKey(batch, $0, pass: .text) }, seed: stepSeed)
                negatives?.keyRows(sampleKeys: range.flatMap { i in (0..<perPair).map { sampleKey(batch, i, pass: .negative($0)) } },
                                   seed: stepSeed)
            }
            var generative: [(item: SequenceBatch.Item, poolIndex: Int)] = []
            var generativeKeys: [UInt64] = []
            if settings.ntpWeight > 0 && !sharesImagePass {
                for i in range {
                    for (k, caption) in generativeCaptions(batch, i).enumerated() {
                        guard let caption else { continue }
                        generative.append(try imageItem(i, longCaption: caption))
                        generativeKeys.append(sampleKey(batch, i, pass: .generative(k)))
                    }
                }
            }
            var sequences: SequenceBatch?
            if !generative.isEmpty {
                sequences = SequenceBatch(items: generative.map(\.item), poolIndices: generative.map(\.poolIndex), padding: .right)
                if dropout { sequences!.keyRows(sampleKeys: generativeKeys, seed: stepSeed) }
            }
            return Chunk(range: range, pixelOffset: pixelOffset(batch, image: start),
                         imageGrids: batch.imageGrids.isEmpty ? [] : Array(batch.imageGrids[range]),
                         visionMACs: range.reduce(0) { $0 + model.vision.multiplyAdds(grid: batch.imageGrids.isEmpty ? nil : batch.imageGrids[$1]) },
                         images: images, texts: texts, negatives: negatives, generative: sequences)
        }
    }

    /// A batch turned into model input sequences (tokenised prompts, padding, dropout keys): the
    /// part of a step that allocates. `run(_:)` then allocates nothing once its
    /// buffers have grown to the batch's shapes (`discern bench` counts it).
    package struct PreparedBatch: Sendable {
        let batch: TrainingBatch
        let chunks: [Chunk]
        let step: Int
        /// (count, 2) image and caption keys of the local pairs, as Int64 bit patterns for the
        /// all-gather; empty without duplicate masking.
        let duplicateKeys: [Int64]
    }

    package func prepare(_ batch: TrainingBatch, step: Int) throws -> PreparedBatch {
        let keys = settings.maskDuplicates ? DuplicateKeys.local(batch).map { Int64(bitPattern: $0) } : []
        return PreparedBatch(batch: batch, chunks: try chunks(batch, step: step), step: step, duplicateKeys: keys)
    }

    /// Zeroes the gradients, computes them for `batch` (this rank's share of the global batch)
    /// and all-reduces them. The parameters are not changed.
    package func run(_ batch: TrainingBatch, step: Int = 0) throws -> StepResult {
        try run(try prepare(batch, step: step))
    }
}
