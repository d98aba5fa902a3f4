import Kernels
import Objectives
import TestSupport
import XCTest

/// Duplicate masking (loss.mask_duplicates): pairs 0 and 3 show the same image, pairs 1 and 4
/// have the same caption; each leaves the other's softmax, in both directions.
extension ContrastiveLossTests {
    static let imageIDs: [UInt64] = [100, 101, 102, 100, 104, 105]
    static let captionIDs: [UInt64] = [200, 201, 202, 203, 201, 205]
    /// (total, 2) as the step gathers them: image key, caption key per pair.
    static var duplicateKeys: [UInt64] { zip(imageIDs, captionIDs).flatMap { [$0, $1] } }

    /// The masked loss from its definition: query i's softmax runs over the keys j that are i
    /// itself or share neither image nor caption with it, plus (image rows) every hard negative.
    func maskedReferenceLoss(_ images: Buffer<Double>, _ keys: Buffer<Double>, _ logitScale: Double, negatives: Int,
                             imageIDs: [UInt64] = imageIDs, captionIDs: [UInt64] = captionIDs) -> Double {
        let s = Double.exp(logitScale)
        func logit(_ image: Int, _ key: Int) -> Double { s * (0..<dim).reduce(0) { $0 + images[image * dim + $1] * keys[key * dim + $1] } }
        func kept(_ i: Int) -> [Int] { (0..<total).filter { $0 == i || (imageIDs[$0] != imageIDs[i] && captionIDs[$0] != captionIDs[i]) } }
        func crossEntropy(_ values: [Double], _ target: Int) -> Double {
            let m = values.max()!
            return m + Double.log(values.reduce(0) { $0 + Double.exp($1 - m) }) - values[target]
        }
        var loss = 0.0
        for i in 0..<total {
            let partners = kept(i), target = partners.firstIndex(of: i)!
            loss += crossEntropy(partners.map { logit(i, $0) } + (total..<total + negatives).map { logit(i, $0) }, target)
            loss += crossEntropy(partners.map { logit($0, i) }, target)
        }
        return loss / Double(2 * total)
    }

    /// The loss on `ranks` equal shards with the duplicate keys, full-size gradients summed.
    func maskedShards(_ images: Buffer<Double>, _ texts: Buffer<Double>, _ logitScale: Double, ranks: Int, negatives: Int = 0,
                      keys: [UInt64] = duplicateKeys) -> (loss: Double, dImages: [Double], dTexts: [Double], dScale: Double, masked: Int) {
        let dImages = Buffer<Double>(count: total * dim), dTexts = Buffer<Double>(count: (total + negatives) * dim)
        var loss = 0.0, dScale = 0.0, masked = 0
        let per = total / ranks
        for rank in 0..<ranks {
            let result = keys.withUnsafeBufferPointer {
                ContrastiveLoss<Double>().forwardBackward(
                    images: images.pointer, texts: texts.pointer, total: total, negatives: negatives, dim: dim, offset: rank * per,
                    count: per, logitScale: logitScale, duplicateKeys: $0.baseAddress!, dImages: dImages.pointer, dTexts: dTexts.pointer)
            }
            loss += result.localLoss
            dScale += result.logitScaleGradient
            masked += result.maskedKeys
        }
        return (loss, dImages.array, dTexts.array, dScale, masked)
    }

    func testMaskedLossMatchesDefinitionAndFiniteDifferences() {
        var random = TestRandom(seed: 15)
        let images = normalisedRows(&random), texts = normalisedRows(&random)
        let logitScale = 1.4
        let masked = maskedShards(images, texts, logitScale, ranks: 1)
        func reference() -> Double { maskedReferenceLoss(images, texts, logitScale, negatives: 0) }
        XCTAssertEqual(masked.loss, reference(), accuracy: Tolerance.doubleReordering)
        assertClose(masked.dImages, numericalGradient(images, reference), tolerance: Tolerance.finiteDifference, "d masked loss / d images")
        assertClose(masked.dTexts, numericalGradient(texts, reference), tolerance: Tolerance.finiteDifference, "d masked loss / d texts")
        let h = 1e-6
        let numericScale = (maskedReferenceLoss(images, texts, logitScale + h, negatives: 0)
            - maskedReferenceLoss(images, texts, logitScale - h, negatives: 0)) / (2 * h)
        XCTAssertEqual(masked.dScale, numericScale, accuracy: Tolerance.scalarFiniteDifference)
        // Two duplicate relations, each masking 2 entries per direction: 8 in all.
        XCTAssertEqual(masked.masked, 8)
        // The mask changes the loss: the unmasked definition differs.
        XCTAssertGreaterThan(abs(masked.loss - referenceLoss(images, texts, logitScale)), 1e-3)
    }

    /// Duplicates that sit on different ranks (pairs 0 | 3 and 1 | 4 with 2 and 3 ranks) give
    /// the single process's loss and gradients; hard negatives stay keys of every image row.
    func testMaskedShardsAgreeAndHardNegativesStayUnmasked() {
        var random = TestRandom(seed: 16)
        let images = normalisedRows(&random)
        let keys = Buffer<Double>(normalisedRows(&random).array + normalisedRows(&random).array)
        let single = maskedShards(images, keys, 1.9, ranks: 1, negatives: total)
        XCTAssertEqual(single.loss, maskedReferenceLoss(images, keys, 1.9, negatives: total), accuracy: Tolerance.doubleReordering)
        assertClose(single.dTexts, numericalGradient(keys) { maskedReferenceLoss(images, keys, 1.9, negatives: total) },
                    tolerance: Tolerance.finiteDifference, "d masked loss / d captions and negatives")
        for ranks in [2, 3] {
            let split = maskedShards(images, keys, 1.9, ranks: ranks, negatives: total)
            XCTAssertEqual(split.loss, single.loss, accuracy: Tolerance.doubleReordering)
            XCTAssertEqual(split.dScale, single.dScale, accuracy: Tolerance.doubleReordering)
            XCTAssertEqual(split.masked, single.masked)
            assertClose(split.dImages, single.dImages, tolerance: Tolerance.doubleReordering, "\(ranks) ranks, images")
            assertClose(split.dTexts, single.dTexts, tolerance: Tolerance.doubleReordering, "\(ranks) ranks, texts and negatives")
        }
    }

    /// Keys with no duplicate change nothing, bit for bit: masking on a batch of distinct pairs is
    /// the old computation, and so is masking off (nil keys) on any batch.
    func testDistinctKeysAreBitIdenticalToNoMask() {
        var random = TestRandom(seed: 17)
        let images = normalisedRows(&random)
        let keys = Buffer<Double>(normalisedRows(&random).array + normalisedRows(&random).array)
        let distinct = (0..<UInt64(2 * total)).map { $0 * 7919 + 3 }
        let masked = maskedShards(images, keys, 2.1, ranks: 2, negatives: total, keys: distinct)
        let plain = sharded(images, keys, 2.1, ranks: 2, negatives: total)
        XCTAssertEqual(masked.loss, plain.loss)
        XCTAssertEqual(masked.dScale, plain.dScale)
        XCTAssertEqual(masked.dImages, plain.dImages)
        XCTAssertEqual(masked.dTexts, plain.dTexts)
        XCTAssertEqual(masked.masked, 0)
    }
}
