import Kernels
import Objectives
import TestSupport
import XCTest

final class ContrastiveLossTests: XCTestCase {
    let total = 6, dim = 5

    func normalisedRows(_ random: inout TestRandom) -> Buffer<Double> {
        let b: Buffer<Double> = random.buffer(total * dim)
        for r in 0..<total {
            var norm = 0.0
            for i in 0..<dim { norm += b[r * dim + i] * b[r * dim + i] }
            for i in 0..<dim { b[r * dim + i] /= norm.squareRoot() }
        }
        return b
    }

    /// The global loss straight from its definition, for finite differences.
    func referenceLoss(_ images: Buffer<Double>, _ texts: Buffer<Double>, _ logitScale: Double) -> Double {
        let s = Double.exp(logitScale)
        var logits = [Double](repeating: 0, count: total * total)
        for i in 0..<total { for j in 0..<total {
            var d = 0.0
            for k in 0..<dim { d += images[i * dim + k] * texts[j * dim + k] }
            logits[i * total + j] = s * d
        } }
        var loss = 0.0
        for i in 0..<total {
            let row = (0..<total).map { logits[i * total + $0] }, column = (0..<total).map { logits[$0 * total + i] }
            for values in [row, column] {
                let m = values.max()!
                loss += m + Double.log(values.reduce(0) { $0 + Double.exp($1 - m) }) - values[i]
            }
        }
        return loss / Double(2 * total)
    }

    /// Runs the rank-local computation for `ranks` equal shards and sums the full-size gradients,
    /// as the reduce-scatter does. `texts` holds `negatives` hard negative rows after the captions.
    func sharded(_ images: Buffer<Double>, _ texts: Buffer<Double>, _ logitScale: Double, ranks: Int, negatives: Int = 0,
                 valid: [UInt8]? = nil) -> (loss: Double, dImages: [Double], dTexts: [Double], dScale: Double) {
        let dImages = Buffer<Double>(count: total * dim), dTexts = Buffer<Double>(count: (total + negatives) * dim)
        var loss = 0.0, dScale = 0.0
        let per = total / ranks
        for rank in 0..<ranks {
            let result = (valid ?? [UInt8](repeating: 1, count: total + negatives)).withUnsafeBufferPointer {
                ContrastiveLoss<Double>().forwardBackward(
                    images: images.pointer, texts: texts.pointer, total: total, negatives: negatives, dim: dim, offset: rank * per,
                    count: per, logitScale: logitScale, valid: $0.baseAddress!, dImages: dImages.pointer, dTexts: dTexts.pointer)
            }
            loss += result.localLoss
            dScale += result.logitScaleGradient
        }
        return (loss, dImages.array, dTexts.array, dScale)
    }

    /// 2 and 3 shards give the single process's loss and gradients.
    func assertShardsAgree(_ images: Buffer<Double>, _ texts: Buffer<Double>, _ logitScale: Double, negatives: Int = 0) {
        let single = sharded(images, texts, logitScale, ranks: 1, negatives: negatives)
        for ranks in [2, 3] {
            let split = sharded(images, texts, logitScale, ranks: ranks, negatives: negatives)
            XCTAssertEqual(split.loss, single.loss, accuracy: Tolerance.doubleReordering)
            XCTAssertEqual(split.dScale, single.dScale, accuracy: Tolerance.doubleReordering)
            assertClose(split.dImages, single.dImages, tolerance: Tolerance.doubleReordering, "\(ranks) ranks, images")
            assertClose(split.dTexts, single.dTexts, tolerance: Tolerance.doubleReordering, "\(ranks) ranks, texts and negatives")
        }
    }

    func testLossAndGradientsMatchDefinitionAndFiniteDifferences() {
        var random = TestRandom(seed: 9)
        let images = normalisedRows(&random), texts = normalisedRows(&random)
        let logitScale = 1.3
        let (loss, dImages, dTexts, dScale) = sharded(images, texts, logitScale, ranks: 1)
        XCTAssertEqual(loss, referenceLoss(images, texts, logitScale), accuracy: Tolerance.doubleReordering)
        assertClose(dImages, numericalGradient(images) { referenceLoss(images, texts, logitScale) },
                    tolerance: Tolerance.finiteDifference, "d loss / d images")
        assertClose(dTexts, numericalGradient(texts) { referenceLoss(images, texts, logitScale) },
                    tolerance: Tolerance.finiteDifference, "d loss / d texts")
        let h = 1e-6
        let numericScale = (referenceLoss(images, texts, logitScale + h) - referenceLoss(images, texts, logitScale - h)) / (2 * h)
        XCTAssertEqual(dScale, numericScale, accuracy: Tolerance.scalarFiniteDifference)
    }

    func testShardedRanksGiveTheSameGlobalGradient() {
        var random = TestRandom(seed: 10)
        let images = normalisedRows(&random), texts = normalisedRows(&random)
        assertShardsAgree(images, texts, 2.0)
    }

    /// The shortcut some trainers take: each rank keeps only its own rows of its OWN gradient,
    /// discarding what the other ranks' loss terms contribute to its rows. It is wrong.
    func testKeepingOnlyTheLocalSliceIsWrong() {
        var random = TestRandom(seed: 11)
        let images = normalisedRows(&random), texts = normalisedRows(&random)
        let exact = sharded(images, texts, 2.0, ranks: 1)
        let ranks = 2, per = total / ranks
        var shortcut = [Double](repeating: 0, count: total * dim)
        for rank in 0..<ranks {
            let dImages = Buffer<Double>(count: total * dim), dTexts = Buffer<Double>(count: total * dim)
            _ = ContrastiveLoss<Double>().forwardBackward(
                images: images.pointer, texts: texts.pointer, total: total, dim: dim, offset: rank * per, count: per,
                logitScale: 2.0, dImages: dImages.pointer, dTexts: dTexts.pointer)
            for i in rank * per * dim..<(rank + 1) * per * dim { shortcut[i] = dImages[i] }
        }
        XCTAssertGreaterThan(maxRelativeError(shortcut, exact.dImages), 0.05,
                             "the local-slice shortcut should differ visibly from the exact gradient")
    }

    /// A pair without a short caption is left out entirely: the result equals the loss over the
    /// remaining pairs alone.
    func testInvalidPairsAreLeftOut() {
        var random = TestRandom(seed: 12)
        let images = normalisedRows(&random), texts = normalisedRows(&random)
        let valid: [UInt8] = [1, 0, 1, 1, 0, 1]
        let dImages = Buffer<Double>(count: total * dim), dTexts = Buffer<Double>(count: total * dim)
        let masked = valid.withUnsafeBufferPointer {
            ContrastiveLoss<Double>().forwardBackward(images: images.pointer, texts: texts.pointer, total: total, dim: dim,
                                                      offset: 0, count: total, logitScale: 1.1, valid: $0.baseAddress!,
                                                      dImages: dImages.pointer, dTexts: dTexts.pointer)
        }
        let keep = (0..<total).filter { valid[$0] == 1 }
        let subImages = Buffer<Double>(keep.flatMap { r in (0..<dim).map { images[r * dim + $0] } })
        let subTexts = Buffer<Double>(keep.flatMap { r in (0..<dim).map { texts[r * dim + $0] } })
        let dSubImages = Buffer<Double>(count: keep.count * dim), dSubTexts = Buffer<Double>(count: keep.count * dim)
        let reference = ContrastiveLoss<Double>().forwardBackward(
            images: subImages.pointer, texts: subTexts.pointer, total: keep.count, dim: dim, offset: 0, count: keep.count,
            logitScale: 1.1, dImages: dSubImages.pointer, dTexts: dSubTexts.pointer)
        XCTAssertEqual(masked.localLoss, reference.localLoss, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(masked.logitScaleGradient, reference.logitScaleGradient, accuracy: Tolerance.doubleReordering)
        for (k, r) in keep.enumerated() {
            for i in 0..<dim { XCTAssertEqual(dImages[r * dim + i], dSubImages[k * dim + i], accuracy: Tolerance.doubleReordering) }
        }
        for r in 0..<total where valid[r] == 0 {
            for i in 0..<dim { XCTAssertEqual(dImages[r * dim + i], 0); XCTAssertEqual(dTexts[r * dim + i], 0) }
        }
    }

    // MARK: Hard negatives (NegCLIP): texts holds the captions, then one false caption per pair.

    /// The loss with hard negatives from its definition: image row i over [T; H], text column j
    /// over the images only. `negativeValid` leaves missing negatives out.
    func referenceLoss(_ images: Buffer<Double>, _ keys: Buffer<Double>, _ logitScale: Double, negativeValid: [Bool]) -> Double {
        let s = Double.exp(logitScale)
        func logit(_ i: Int, _ key: Int) -> Double { s * (0..<dim).reduce(0) { $0 + images[i * dim + $1] * keys[key * dim + $1] } }
        func crossEntropy(_ values: [Double], _ target: Int) -> Double {
            let m = values.max()!
            return m + Double.log(values.reduce(0) { $0 + Double.exp($1 - m) }) - values[target]
        }
        var loss = 0.0
        for i in 0..<total {
            let negatives = (0..<total).filter { negativeValid[$0] }.map { total + $0 }
            loss += crossEntropy((0..<total).map { logit(i, $0) } + negatives.map { logit(i, $0) }, i)
            loss += crossEntropy((0..<total).map { logit($0, i) }, i)
        }
        return loss / Double(2 * total)
    }

    func testHardNegativesMatchDefinitionFiniteDifferencesAndShards() {
        var random = TestRandom(seed: 13)
        let images = normalisedRows(&random)
        let keys = Buffer<Double>(normalisedRows(&random).array + normalisedRows(&random).array)
        let logitScale = 1.7, all = [Bool](repeating: true, count: total)
        let single = sharded(images, keys, logitScale, ranks: 1, negatives: total)
        XCTAssertEqual(single.loss, referenceLoss(images, keys, logitScale, negativeValid: all), accuracy: Tolerance.doubleReordering)
        assertClose(single.dImages, numericalGradient(images) { referenceLoss(images, keys, logitScale, negativeValid: all) },
                    tolerance: Tolerance.finiteDifference, "d loss / d images")
        assertClose(single.dTexts, numericalGradient(keys) { referenceLoss(images, keys, logitScale, negativeValid: all) },
                    tolerance: Tolerance.finiteDifference, "d loss / d captions and negatives")
        let h = 1e-6
        let numericScale = (referenceLoss(images, keys, logitScale + h, negativeValid: all)
            - referenceLoss(images, keys, logitScale - h, negativeValid: all)) / (2 * h)
        XCTAssertEqual(single.dScale, numericScale, accuracy: Tolerance.scalarFiniteDifference)
        // The negatives really take part: their gradient is not zero, and the loss is above the plain one.
        XCTAssertGreaterThan(single.dTexts[(total * dim)...].map(abs).max()!, 1e-3)
        let plainTexts = Buffer<Double>(Array(keys.array[0..<(total * dim)]))
        XCTAssertGreaterThan(single.loss, sharded(images, plainTexts, logitScale, ranks: 1).loss)
        assertShardsAgree(images, keys, logitScale, negatives: total)
    }

    func testMissingHardNegativesAreLeftOut() {
        var random = TestRandom(seed: 14)
        let images = normalisedRows(&random)
        let keys = Buffer<Double>(normalisedRows(&random).array + normalisedRows(&random).array)
        let negativeValid = [true, false, true, true, false, true]
        let valid = [UInt8](repeating: 1, count: total) + negativeValid.map { $0 ? 1 : 0 }
        let masked = sharded(images, keys, 0.9, ranks: 2, negatives: total, valid: valid)
        XCTAssertEqual(masked.loss, referenceLoss(images, keys, 0.9, negativeValid: negativeValid), accuracy: Tolerance.doubleReordering)
        assertClose(masked.dTexts, numericalGradient(keys) { referenceLoss(images, keys, 0.9, negativeValid: negativeValid) },
                    tolerance: Tolerance.finiteDifference, "d loss / d keys with missing negatives")
        for r in 0..<total where !negativeValid[r] {
            for i in 0..<dim { XCTAssertEqual(masked.dTexts[(total + r) * dim + i], 0) }
        }
    }
}
