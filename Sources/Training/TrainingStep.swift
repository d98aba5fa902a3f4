import Communication
import Dispatch
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
public final class TrainingStep: @unchecked Sendable {
    public let model: LlavaModel<Float>
    public let prompts: PromptBuilder
    public let communicator: Communicator
    public let settings: StepSettings
    let logitScale: Parameter<Float>?

    let imagePass = LlavaModel<Float>.Pass(), textPass = LlavaModel<Float>.Pass(), ntpPass = LlavaModel<Float>.Pass()
    let negativePass = LlavaModel<Float>.Pass()
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
    var sums = [Double](repeating: 0, count: 4)   // loss parts, tokens, FLOPs: summed over ranks

    public init(model: LlavaModel<Float>, prompts: PromptBuilder, communicator: Communicator, settings: StepSettings) {
        self.model = model
        self.prompts = prompts
        self.communicator = communicator
        self.settings = settings
        logitScale = model.parameters.contains(ObjectiveParameterName.logitScale) ? model.parameters[ObjectiveParameterName.logitScale] : nil
    }

    struct Chunk: Sendable {
        let range: Range<Int>
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

    /// Key of sample `index` (its position in the step's global batch) in pass `pass`, for
    /// dropout masks that do not depend on ranks or micro-batches.
    func sampleKey(_ batch: TrainingBatch, _ index: Int, pass: UInt64) -> UInt64 {
        mixBits(UInt64(batch.globalOffset + index) | pass << 40)
    }

    func chunks(_ batch: TrainingBatch, step: Int) throws -> [Chunk] {
        let size = settings.microBatch > 0 ? min(settings.microBatch, batch.count) : batch.count
        let soft = settings.softPrompts
        let dropout = (model.trainableSet.lora?.dropout ?? 0) > 0
        let stepSeed = mixBits(settings.dropoutSeed ^ mixBits(UInt64(step)))
        return try stride(from: 0, to: batch.count, by: max(size, 1)).map { start in
            let range = start..<min(start + size, batch.count)
            var images: SequenceBatch
            if sharesImagePass {
                let items = try range.map { try prompts.imageItem(imageIndex: $0 - start, softPrompt: soft, longCaption: generativeCaptions(batch, $0)[0]) }
                images = SequenceBatch(items: items.map(\.item), poolIndices: items.map(\.poolIndex), padding: .right)
            } else {
                images = SequenceBatch(items: try range.map { try prompts.imageItem(imageIndex: $0 - start, softPrompt: soft).item }, padding: .right)
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
                images.keyRows(sampleKeys: range.map { sampleKey(batch, $0, pass: 1) }, seed: stepSeed)
                texts.keyRows(sampleKeys: range.map { sampleKey(batch, $0, pass: 2) }, seed: stepSeed)
                negatives?.keyRows(sampleKeys: range.flatMap { i in (0..<perPair).map { sampleKey(batch, i, pass: 7 + UInt64($0)) } },
                                   seed: stepSeed)
            }
            var generative: [(item: SequenceBatch.Item, poolIndex: Int)] = []
            var generativeKeys: [UInt64] = []
            if settings.ntpWeight > 0 && !sharesImagePass {
                for i in range {
                    for (k, caption) in generativeCaptions(batch, i).enumerated() {
                        guard let caption else { continue }
                        generative.append(try prompts.imageItem(imageIndex: i - start, softPrompt: soft, longCaption: caption))
                        generativeKeys.append(sampleKey(batch, i, pass: 3 + UInt64(k)))
                    }
                }
            }
            var sequences: SequenceBatch?
            if !generative.isEmpty {
                sequences = SequenceBatch(items: generative.map(\.item), poolIndices: generative.map(\.poolIndex), padding: .right)
                if dropout { sequences!.keyRows(sampleKeys: generativeKeys, seed: stepSeed) }
            }
            return Chunk(range: range, images: images, texts: texts, negatives: negatives, generative: sequences)
        }
    }

    /// A batch turned into model input sequences (tokenised prompts, padding, dropout keys): the
    /// part of a step that allocates. `run(_:globalBatch:)` then allocates nothing once its
    /// buffers have grown to the batch's shapes (`discern bench` counts it).
    public struct PreparedBatch: Sendable {
        let batch: TrainingBatch
        let chunks: [Chunk]
        let step: Int
    }

    public func prepare(_ batch: TrainingBatch, step: Int) throws -> PreparedBatch {
        PreparedBatch(batch: batch, chunks: try chunks(batch, step: step), step: step)
    }

    /// Zeroes the gradients, computes them for `batch` (this rank's share of a global batch of
    /// `globalBatch` pairs) and all-reduces them. The parameters are not changed.
    public func run(_ batch: TrainingBatch, globalBatch: Int, step: Int = 0) throws -> StepResult {
        try run(try prepare(batch, step: step), globalBatch: globalBatch)
    }

    public func run(_ prepared: PreparedBatch, globalBatch: Int) throws -> StepResult {
        let batch = prepared.batch, chunks = prepared.chunks
        let width = model.hidden, local = batch.count, imageSize = model.config.vision.imageSize
        let pixelsPerImage = 3 * imageSize * imageSize
        precondition(batch.pixels.count == local * pixelsPerImage, "TrainingBatch: pixels for \(batch.pixels.count / pixelsPerImage) images, captions for \(local)")
        precondition(local * communicator.size == globalBatch, "every rank must hold globalBatch / ranks pairs")
        var timing = StepTiming()
        func timed<R>(_ keyPath: WritableKeyPath<StepTiming, Double>, _ body: () throws -> R) rethrows -> R {
            let start = DispatchTime.now().uptimeNanoseconds
            defer { timing[keyPath: keyPath] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            return try body()
        }
        model.parameters.zeroGradients()
        var tokens = 0, flops = 0.0
        var contrastiveLoss = 0.0, ntpSum = 0.0
        let estimate = FlopEstimate(config: model.config, imageFeatures: model.imageTokens)
        let full = model.trainableSet.fullModel, visionBackward = model.vision.needsBackward || model.projector.needsBackward
        func passFlops(_ sequences: SequenceBatch, images: Int, forwards: Int) -> Double {
            let language = estimate.languageMACs(batch: sequences.batch, length: sequences.sequence)
            let vision = Double(images) * estimate.visionMACsPerImage
            return FlopEstimate.flops(macs: language, backward: true, fullModel: full) + 2 * language * Double(forwards - 1)
                + FlopEstimate.flops(macs: vision, backward: visionBackward, fullModel: full) + 2 * vision * Double(forwards - 1)
        }
        func headFlops(_ rows: Int) -> Double { FlopEstimate.flops(macs: estimate.headMACs(rows: rows), backward: true, fullModel: full) }

        // The next-token loss divides by the global number of target tokens, known up front.
        let localTargets = chunks.reduce(0) { total, chunk in
            total + ((sharesImagePass ? chunk.images : chunk.generative).map { $0.targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } } ?? 0)
        }
        let globalTargets = settings.ntpWeight > 0 ? Int(try timed(\.communication) { try communicator.allReduceSum(Int64(localTargets)) }) : 0

        try batch.pixels.withUnsafeBufferPointer { allPixels in
            func pixels(_ chunk: Chunk) -> UnsafePointer<Float> { allPixels.baseAddress! + chunk.range.lowerBound * pixelsPerImage }
            /// The image pass: its final hidden states and the pooled embeddings.
            func imageForward(_ chunk: Chunk) -> (hidden: UnsafeMutablePointer<Float>, embeddings: UnsafeMutablePointer<Float>) {
                timed(\.vision) { model.encodeImages(pixels: pixels(chunk), imageCount: chunk.range.count, pass: imagePass) }
                return timed(\.forward) {
                    let hidden = model.forwardLanguage(sequences: chunk.images, pass: imagePass)
                    return (hidden, imagePooling.forward(hidden, sequences: chunk.images, width: width))
                }
            }
            /// A text-tower pass (captions, or hard negatives in their own pass): pooled embeddings.
            func textForward(_ sequences: SequenceBatch, _ pass: LlavaModel<Float>.Pass,
                             _ pooling: EmbeddingPooling<Float>) -> UnsafeMutablePointer<Float> {
                timed(\.forward) {
                    let hidden = model.forward(pixels: nil, imageCount: 0, sequences: sequences, pass: pass)
                    return pooling.forward(hidden, sequences: sequences, width: width)
                }
            }
            func textBackward(_ dEmbeddings: UnsafePointer<Float>, _ sequences: SequenceBatch, _ pass: LlavaModel<Float>.Pass,
                              _ pooling: EmbeddingPooling<Float>) {
                timed(\.backward) {
                    let d = dHidden.reserveZeroed(sequences.rows * width)
                    pooling.backward(dEmbeddings, sequences: sequences, width: width, dHidden: d, scratch: poolScratch)
                    model.backward(d, pass: pass, scratch: scratch)
                }
            }
            /// Next-token loss on `hidden` of `sequences`: adds its gradient into dHidden.
            func nextTokenLoss(_ hidden: UnsafePointer<Float>, _ sequences: SequenceBatch, dHidden: UnsafeMutablePointer<Float>) {
                let result = timed(\.forward) { nextToken.forward(hidden, sequences: sequences, head: model.language.lmHead) }
                ntpSum += result.loss * Double(result.count)
                flops += headFlops(result.count)
                timed(\.backward) {
                    nextToken.backward(scale: Float(settings.ntpWeight), normalizer: globalTargets, head: model.language.lmHead,
                                       dHidden: dHidden, scratch: poolScratch)
                }
            }

            if settings.contrastiveWeight > 0 {
                // 1. Embeddings of every local pair.
                let images = localImages.reserve(local * width), texts = localTexts.reserve(local * width)
                let perPair = settings.hardNegatives, hard = perPair > 0
                let negatives = hard ? localNegatives.reserve(local * perPair * width) : texts
                var lastImageHidden: UnsafeMutablePointer<Float>?
                for chunk in chunks {
                    let image = imageForward(chunk)
                    lastImageHidden = image.hidden
                    (images + chunk.range.lowerBound * width).update(from: image.embeddings, count: chunk.range.count * width)
                    (texts + chunk.range.lowerBound * width).update(from: textForward(chunk.texts, textPass, textPooling),
                                                                     count: chunk.range.count * width)
                    if let sequences = chunk.negatives {
                        (negatives + chunk.range.lowerBound * perPair * width).update(from: textForward(sequences, negativePass, negativePooling),
                                                                                      count: chunk.range.count * perPair * width)
                    }
                }
                // 2. Gather, differentiate the local share of the global loss, reduce-scatter.
                //    With hard negatives the gathered texts are (N + N K, D): captions, then every
                //    rank's negatives in rank order.
                let total = globalBatch, keys = total * (1 + perPair)
                let valid = localValid.reserve(local * (1 + perPair)), allValid = globalValid.reserve(keys)
                for i in 0..<local {
                    valid[i] = batch.shortCaptions[i] == nil ? 0 : 1
                    for k in 0..<perPair {
                        valid[local + i * perPair + k] = batch.shortCaptions[i] != nil && batch.negativeCaptions[i * perPair + k] != nil ? 1 : 0
                    }
                }
                let gathered = (images: globalImages.reserve(total * width), texts: globalTexts.reserve(keys * width))
                try timed(\.communication) {
                    try communicator.allGather(send: UnsafeBufferPointer(start: images, count: local * width),
                                               receive: UnsafeMutableBufferPointer(start: gathered.images, count: total * width))
                    try communicator.allGather(send: UnsafeBufferPointer(start: texts, count: local * width),
                                               receive: UnsafeMutableBufferPointer(start: gathered.texts, count: total * width))
                    try communicator.allGather(send: UnsafeBufferPointer(start: valid, count: local),
                                               receive: UnsafeMutableBufferPointer(start: allValid, count: total))
                    if hard {
                        try communicator.allGather(send: UnsafeBufferPointer(start: negatives, count: local * perPair * width),
                                                   receive: UnsafeMutableBufferPointer(start: gathered.texts + total * width, count: total * perPair * width))
                        try communicator.allGather(send: UnsafeBufferPointer(start: valid + local, count: local * perPair),
                                                   receive: UnsafeMutableBufferPointer(start: allValid + total, count: total * perPair))
                    }
                }
                let dImages = dGlobalImages.reserveZeroed(total * width), dTexts = dGlobalTexts.reserveZeroed(keys * width)
                let scaleValue = logitScale.map { $0.value[0] } ?? Float(settings.fixedLogitScale)
                let result = timed(\.forward) {
                    contrastive.forwardBackward(
                        images: gathered.images, texts: gathered.texts, total: total, negatives: keys - total, dim: width,
                        offset: communicator.rank * local, count: local, logitScale: scaleValue, valid: allValid,
                        dImages: dImages, dTexts: dTexts)
                }
                contrastiveLoss = result.localLoss
                let weight = Float(settings.contrastiveWeight)
                if weight != 1 {
                    for i in 0..<total * width { dImages[i] *= weight }
                    for i in 0..<keys * width { dTexts[i] *= weight }
                }
                logitScale?.gradient![0] += weight * Float(result.logitScaleGradient)
                let dOwnImages = dLocalImages.reserve(local * width), dOwnTexts = dLocalTexts.reserve(local * width)
                let dOwnNegatives = hard ? dLocalNegatives.reserve(local * perPair * width) : dOwnTexts
                try timed(\.communication) {
                    try communicator.reduceScatterSum(send: UnsafeBufferPointer(start: dImages, count: total * width),
                                                      receive: UnsafeMutableBufferPointer(start: dOwnImages, count: local * width))
                    try communicator.reduceScatterSum(send: UnsafeBufferPointer(start: dTexts, count: total * width),
                                                      receive: UnsafeMutableBufferPointer(start: dOwnTexts, count: local * width))
                    if hard {
                        try communicator.reduceScatterSum(send: UnsafeBufferPointer(start: dTexts + total * width, count: total * perPair * width),
                                                          receive: UnsafeMutableBufferPointer(start: dOwnNegatives, count: local * perPair * width))
                    }
                }
                // 3. Backward through both towers, chunk by chunk: the last chunk first, while its
                //    passes are still in place; the others run forward again (GradCache).
                for k in 0..<chunks.count {
                    let index = (k + chunks.count - 1) % chunks.count
                    let chunk = chunks[index], offset = chunk.range.lowerBound * width
                    let again = index < chunks.count - 1
                    let imageHidden = again ? imageForward(chunk).hidden : lastImageHidden!
                    let dImage = dHidden.reserveZeroed(chunk.images.rows * width)
                    timed(\.backward) {
                        imagePooling.backward(dOwnImages + offset, sequences: chunk.images, width: width, dHidden: dImage, scratch: poolScratch)
                    }
                    if sharesImagePass && globalTargets > 0 { nextTokenLoss(imageHidden, chunk.images, dHidden: dImage) }
                    timed(\.backward) { model.backward(dImage, pass: imagePass, scratch: scratch) }
                    if again { _ = textForward(chunk.texts, textPass, textPooling) }
                    textBackward(dOwnTexts + offset, chunk.texts, textPass, textPooling)
                    tokens += chunk.images.keyMask.reduce(0) { $0 + Int($1) } + chunk.texts.keyMask.reduce(0) { $0 + Int($1) }
                    let forwards = again ? 2 : 1
                    flops += passFlops(chunk.images, images: chunk.range.count, forwards: forwards)
                        + passFlops(chunk.texts, images: 0, forwards: forwards)
                    if let sequences = chunk.negatives {
                        if again { _ = textForward(sequences, negativePass, negativePooling) }
                        textBackward(dOwnNegatives + offset * perPair, sequences, negativePass, negativePooling)
                        tokens += sequences.keyMask.reduce(0) { $0 + Int($1) }
                        flops += passFlops(sequences, images: 0, forwards: forwards)
                    }
                }
            }

            // Separate next-token passes (no contrastive loss, or two captions per pair).
            if globalTargets > 0 && !sharesImagePass {
                for chunk in chunks {
                    guard let sequences = chunk.generative else { continue }
                    timed(\.vision) { model.encodeImages(pixels: pixels(chunk), imageCount: chunk.range.count, pass: ntpPass) }
                    let hidden = timed(\.forward) { model.forwardLanguage(sequences: sequences, pass: ntpPass) }
                    let d = dHidden.reserveZeroed(sequences.rows * width)
                    nextTokenLoss(hidden, sequences, dHidden: d)
                    timed(\.backward) { model.backward(d, pass: ntpPass, scratch: scratch) }
                    tokens += sequences.keyMask.reduce(0) { $0 + Int($1) }
                    flops += passFlops(sequences, images: chunk.range.count, forwards: 1)
                }
            }
        }

        // 4. Sum gradients and the loss parts over ranks.
        sums[0] = contrastiveLoss; sums[1] = ntpSum; sums[2] = Double(tokens); sums[3] = flops
        try timed(\.communication) {
            try communicator.allReduceSum(model.parameters.trainableGradients.buffer)
            try communicator.allReduceSum(&sums)
        }
        let ntpLoss = globalTargets > 0 ? sums[1] / Double(globalTargets) : 0
        return StepResult(contrastiveLoss: sums[0], ntpLoss: ntpLoss, ntpTokens: globalTargets,
                          loss: settings.contrastiveWeight * sums[0] + settings.ntpWeight * ntpLoss,
                          tokens: Int(sums[2]), flops: sums[3], timing: timing)
    }
}
