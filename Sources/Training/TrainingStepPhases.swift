import Communication
import Kernels
import Layers
import Models
import Objectives

/// The step's phases, in the order `run` calls them (the type's documentation is the overview).
extension TrainingStep {
    /// Zeroes the gradients, computes them for this rank's share of the global batch and
    /// all-reduces them. The parameters are not changed.
    package func run(_ prepared: PreparedBatch) throws -> StepResult {
        let batch = prepared.batch, chunks = prepared.chunks
        precondition(batch.pixels.count == pixelOffset(batch, image: batch.count),
                     "TrainingBatch: \(batch.pixels.count) pixel values, \(pixelOffset(batch, image: batch.count)) for \(batch.count) images")
        clock.reset()
        totals = StepTotals()
        model.parameters.zeroGradients()
        globalTargets = try countGlobalTargets(chunks)
        try batch.pixels.withUnsafeBufferPointer { allPixels in
            let pixels = allPixels.baseAddress!
            if settings.contrastiveWeight > 0 {
                let lastImageHidden = embedLocalPairs(chunks, local: batch.count, pixels: pixels)
                try exchangeEmbeddings(batch, duplicateKeys: prepared.duplicateKeys)
                backpropagateEmbeddings(chunks, pixels: pixels, lastImageHidden: lastImageHidden)
            }
            if globalTargets > 0 && !sharesImagePass { nextTokenPasses(chunks, pixels: pixels) }
        }
        return try sumOverRanks()
    }

    /// The chunk's images, as the vision encoder takes them.
    func images(_ chunk: Chunk, _ pixels: UnsafePointer<Float>) -> ImageBatch<Float> {
        ImageBatch(pixels: pixels + chunk.pixelOffset, count: chunk.range.count, grids: chunk.imageGrids)
    }

    /// Where image `image`'s values start in the batch's pixels.
    func pixelOffset(_ batch: TrainingBatch, image: Int) -> Int {
        guard !batch.imageGrids.isEmpty else { return image * model.vision.inputValues(grid: nil) }
        return batch.imageGrids[..<image].reduce(0) { $0 + model.vision.inputValues(grid: $1) }
    }

    /// The next-token loss divides by the global number of target tokens, known up front.
    func countGlobalTargets(_ chunks: [Chunk]) throws -> Int {
        guard settings.ntpWeight > 0 else { return 0 }
        let local = chunks.reduce(0) { total, chunk in
            total + ((sharesImagePass ? chunk.images : chunk.generative).map { $0.targets.reduce(0) { $0 + ($1 == -100 ? 0 : 1) } } ?? 0)
        }
        return Int(try clock.measure(\.communication) { try communicator.allReduceSum(Int64(local)) })
    }

    /// 1. The embeddings of every local pair (and its hard negatives), chunk by chunk, into
    /// localImages, localTexts and localNegatives. Returns the last chunk's image hidden states,
    /// whose pass is still in place for the backward.
    func embedLocalPairs(_ chunks: [Chunk], local: Int, pixels: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let width = model.hidden, perPair = settings.hardNegatives
        let images = localImages.reserve(local * width), texts = localTexts.reserve(local * width)
        let negatives = perPair > 0 ? localNegatives.reserve(local * perPair * width) : texts
        var lastImageHidden: UnsafeMutablePointer<Float>?
        for chunk in chunks {
            let image = imageForward(chunk, pixels: pixels)
            lastImageHidden = image.hidden
            (images + chunk.range.lowerBound * width).update(from: image.embeddings, count: chunk.range.count * width)
            (texts + chunk.range.lowerBound * width).update(from: textForward(chunk.texts, textPass, textPooling),
                                                             count: chunk.range.count * width)
            if let sequences = chunk.negatives {
                (negatives + chunk.range.lowerBound * perPair * width).update(from: textForward(sequences, negativePass, negativePooling),
                                                                              count: chunk.range.count * perPair * width)
            }
        }
        return lastImageHidden
    }

    /// 2. Gather the embeddings, differentiate this rank's share of the global contrastive loss
    /// with respect to all of them, and reduce-scatter: dLocalImages, dLocalTexts (and
    /// dLocalNegatives) then hold the exact gradient of this rank's embeddings. With hard
    /// negatives the gathered texts are (N + N K, D): captions, then every rank's negatives in rank order.
    /// With duplicate masking every rank's pair keys are gathered too, so all ranks mask alike.
    func exchangeEmbeddings(_ batch: TrainingBatch, duplicateKeys: [Int64]) throws {
        let width = model.hidden, local = batch.count, perPair = settings.hardNegatives
        // Every rank holds the same number of pairs (its share of BatchSplit).
        let total = local * communicator.size, keys = total * (1 + perPair)
        let valid = localValidity(batch), allValid = globalValid.reserve(keys)
        let images = globalImages.reserve(total * width), texts = globalTexts.reserve(keys * width)
        try clock.measure(\.communication) {
            try exchange.gather(localImages.pointer, count: local * width, into: images)
            try exchange.gather(localTexts.pointer, count: local * width, into: texts)
            try exchange.gather(valid, count: local, into: allValid)
            if perPair > 0 {
                try exchange.gather(localNegatives.pointer, count: local * perPair * width, into: texts + total * width)
                try exchange.gather(valid + local, count: local * perPair, into: allValid + total)
            }
        }
        let allKeys = try gatherDuplicateKeys(duplicateKeys, total: total)
        let dImages = dGlobalImages.reserveZeroed(total * width), dTexts = dGlobalTexts.reserveZeroed(keys * width)
        let scale = logitScale.map { $0.value[0] } ?? Float(settings.fixedLogitScale)
        let result = clock.measure(\.forward) {
            contrastive.forwardBackward(images: images, texts: texts, total: total, negatives: keys - total, dim: width,
                                        offset: communicator.rank * local, count: local, logitScale: scale, valid: allValid,
                                        duplicateKeys: allKeys, dImages: dImages, dTexts: dTexts)
        }
        totals.contrastiveLoss = result.localLoss
        totals.maskedKeys = Double(result.maskedKeys)
        let weight = Float(settings.contrastiveWeight)
        if weight != 1 {
            for i in 0..<total * width { dImages[i] *= weight }
            for i in 0..<keys * width { dTexts[i] *= weight }
        }
        logitScale?.gradient![0] += weight * Float(result.logitScaleGradient)
        let dOwnImages = dLocalImages.reserve(local * width), dOwnTexts = dLocalTexts.reserve(local * width)
        let dOwnNegatives = perPair > 0 ? dLocalNegatives.reserve(local * perPair * width) : dOwnTexts
        try clock.measure(\.communication) {
            try exchange.scatterGradient(dImages, count: local * width, into: dOwnImages)
            try exchange.scatterGradient(dTexts, count: local * width, into: dOwnTexts)
            if perPair > 0 { try exchange.scatterGradient(dTexts + total * width, count: local * perPair * width, into: dOwnNegatives) }
        }
    }

    /// Every rank's (pairs, 2) duplicate keys in rank order, (N, 2) in all; nil without masking.
    func gatherDuplicateKeys(_ local: [Int64], total: Int) throws -> UnsafePointer<UInt64>? {
        guard settings.maskDuplicates else { return nil }
        let global = globalDuplicateKeys.reserve(2 * total)
        try clock.measure(\.communication) {
            try local.withUnsafeBufferPointer { try exchange.gather($0.baseAddress!, count: local.count, into: global) }
        }
        // The same 64 bits, read as the unsigned words they were made as.
        return UnsafeRawPointer(global).assumingMemoryBound(to: UInt64.self)
    }

    /// 1 where a pair's caption (then each of its hard negatives) exists: the local pairs, then
    /// their negatives pair by pair.
    func localValidity(_ batch: TrainingBatch) -> UnsafeMutablePointer<UInt8> {
        let local = batch.count, perPair = settings.hardNegatives
        let valid = localValid.reserve(local * (1 + perPair))
        for i in 0..<local {
            valid[i] = batch.shortCaptions[i] == nil ? 0 : 1
            for k in 0..<perPair {
                valid[local + i * perPair + k] = batch.shortCaptions[i] != nil && batch.negativeCaptions[i * perPair + k] != nil ? 1 : 0
            }
        }
        return valid
    }

    /// 3. Backward through both towers, chunk by chunk: the last chunk first, while its passes
    /// are still in place; the others run forward again (GradCache). With a shared image pass
    /// the next-token loss joins the image pass's gradient here.
    func backpropagateEmbeddings(_ chunks: [Chunk], pixels: UnsafePointer<Float>, lastImageHidden: UnsafeMutablePointer<Float>?) {
        let width = model.hidden, perPair = settings.hardNegatives
        for k in 0..<chunks.count {
            let index = (k + chunks.count - 1) % chunks.count
            let chunk = chunks[index], offset = chunk.range.lowerBound * width
            let again = index < chunks.count - 1, forwards = again ? 2 : 1
            let imageHidden = again ? imageForward(chunk, pixels: pixels).hidden : lastImageHidden!
            let dImage = dHidden.reserveZeroed(chunk.images.rows * width)
            clock.measure(\.backward) {
                imagePooling.backward(dLocalImages.pointer + offset, sequences: chunk.images, width: width, dHidden: dImage, scratch: poolScratch)
            }
            if sharesImagePass && globalTargets > 0 { nextTokenLoss(imageHidden, chunk.images, dHidden: dImage) }
            clock.measure(\.backward) { model.backward(dImage, pass: imagePass, scratch: scratch) }
            if again { _ = textForward(chunk.texts, textPass, textPooling) }
            textBackward(dLocalTexts.pointer + offset, chunk.texts, textPass, textPooling)
            totals.tokens += Double(positions(chunk.images) + positions(chunk.texts))
            totals.flops += flopCount.pass(chunk.images, visionMACs: chunk.visionMACs, forwards: forwards)
                + flopCount.pass(chunk.texts, forwards: forwards)
            if let sequences = chunk.negatives {
                if again { _ = textForward(sequences, negativePass, negativePooling) }
                textBackward(dLocalNegatives.pointer + offset * perPair, sequences, negativePass, negativePooling)
                totals.tokens += Double(positions(sequences))
                totals.flops += flopCount.pass(sequences, forwards: forwards)
            }
        }
    }

    /// 4. Separate next-token passes (no contrastive loss, or two captions per pair).
    func nextTokenPasses(_ chunks: [Chunk], pixels: UnsafePointer<Float>) {
        let width = model.hidden
        for chunk in chunks {
            guard let sequences = chunk.generative else { continue }
            clock.measure(\.vision) {
                model.encodeImages(images(chunk, pixels), pass: ntpPass)
            }
            let hidden = clock.measure(\.forward) { model.forwardLanguage(sequences: sequences, pass: ntpPass) }
            let d = dHidden.reserveZeroed(sequences.rows * width)
            nextTokenLoss(hidden, sequences, dHidden: d)
            clock.measure(\.backward) { model.backward(d, pass: ntpPass, scratch: scratch) }
            totals.tokens += Double(positions(sequences))
            totals.flops += flopCount.pass(sequences, visionMACs: chunk.visionMACs, forwards: 1)
        }
    }

    /// 5. Sum the gradients and the step's totals over ranks.
    func sumOverRanks() throws -> StepResult {
        totals.write(to: &sums)
        try clock.measure(\.communication) {
            try communicator.allReduceSum(model.parameters.trainableGradients.buffer)
            try communicator.allReduceSum(&sums)
        }
        let summed = StepTotals(sums)
        let ntpLoss = globalTargets > 0 ? summed.ntpLossSum / Double(globalTargets) : 0
        return StepResult(contrastiveLoss: summed.contrastiveLoss, ntpLoss: ntpLoss, ntpTokens: globalTargets, maskedKeys: Int(summed.maskedKeys),
                          loss: settings.contrastiveWeight * summed.contrastiveLoss + settings.ntpWeight * ntpLoss,
                          tokens: Int(summed.tokens), flops: summed.flops, timing: clock.timing)
    }

    // MARK: - The passes the phases share

    /// The image pass: its final hidden states and the pooled embeddings.
    func imageForward(_ chunk: Chunk, pixels: UnsafePointer<Float>) -> (hidden: UnsafeMutablePointer<Float>, embeddings: UnsafeMutablePointer<Float>) {
        clock.measure(\.vision) {
            model.encodeImages(images(chunk, pixels), pass: imagePass)
        }
        return clock.measure(\.forward) {
            let hidden = model.forwardLanguage(sequences: chunk.images, pass: imagePass)
            return (hidden, imagePooling.forward(hidden, sequences: chunk.images, width: model.hidden))
        }
    }

    /// A text-tower pass (captions, or hard negatives in their own pass): pooled embeddings.
    func textForward(_ sequences: SequenceBatch, _ pass: VisionLanguageModel<Float>.Pass, _ pooling: EmbeddingPooling<Float>) -> UnsafeMutablePointer<Float> {
        clock.measure(\.forward) {
            let hidden = model.forward(images: nil, sequences: sequences, pass: pass)
            return pooling.forward(hidden, sequences: sequences, width: model.hidden)
        }
    }

    func textBackward(_ dEmbeddings: UnsafePointer<Float>, _ sequences: SequenceBatch, _ pass: VisionLanguageModel<Float>.Pass,
                      _ pooling: EmbeddingPooling<Float>) {
        clock.measure(\.backward) {
            let d = dHidden.reserveZeroed(sequences.rows * model.hidden)
            pooling.backward(dEmbeddings, sequences: sequences, width: model.hidden, dHidden: d, scratch: poolScratch)
            model.backward(d, pass: pass, scratch: scratch)
        }
    }

    /// The next-token loss on `hidden` of `sequences`: adds its gradient into dHidden.
    func nextTokenLoss(_ hidden: UnsafePointer<Float>, _ sequences: SequenceBatch, dHidden: UnsafeMutablePointer<Float>) {
        let result = clock.measure(\.forward) { nextToken.forward(hidden, sequences: sequences, head: model.language.lmHead) }
        totals.ntpLossSum += result.loss * Double(result.count)
        totals.flops += flopCount.head(rows: result.count)
        clock.measure(\.backward) {
            nextToken.backward(scale: Float(settings.ntpWeight), normalizer: globalTargets, head: model.language.lmHead,
                               dHidden: dHidden, scratch: poolScratch)
        }
    }

    /// Input positions a pass processed (its attention mask's ones).
    func positions(_ sequences: SequenceBatch) -> Int { sequences.keyMask.reduce(0) { $0 + Int($1) } }
}
