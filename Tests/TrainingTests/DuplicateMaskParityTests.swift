import Foundation
import Objectives
import TestSupport
import Training
import XCTest

/// The masked contrastive loss against its Python twin (Tests/Reference/make_mask_fixtures.py:
/// torch, -inf logits for duplicates, autograd): six pairs with one hard negative each, two
/// sharing an image id and two a caption up to case and spaces. The caption keys come from
/// DuplicateKeys, so the twin also checks the normalisation.
final class DuplicateMaskParityTests: XCTestCase {
    struct Fixture: Decodable {
        let images: [Double], texts: [Double], dim: Int
        let logitScale: Double, imageIds: [UInt64], captions: [String], maskedKeys: Int
        let loss: Double, dImages: [Double], dTexts: [Double], dLogitScale: Double
        enum CodingKeys: String, CodingKey {
            case images, texts, dim, captions, loss
            case logitScale = "logit_scale", imageIds = "image_ids", maskedKeys = "masked_keys"
            case dImages = "d_images", dTexts = "d_texts", dLogitScale = "d_logit_scale"
        }
    }

    func testMaskedLossMatchesTheTorchTwin() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/duplicate-mask.json")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let total = fixture.captions.count, dim = fixture.dim
        let keys = zip(fixture.imageIds, fixture.captions).flatMap { [$0, DuplicateKeys.caption($1)] }
        var dImages = [Double](repeating: 0, count: total * dim), dTexts = [Double](repeating: 0, count: 2 * total * dim)
        let result = fixture.images.withUnsafeBufferPointer { images in
            fixture.texts.withUnsafeBufferPointer { texts in
                keys.withUnsafeBufferPointer { keys in
                    dImages.withUnsafeMutableBufferPointer { dImages in
                        dTexts.withUnsafeMutableBufferPointer { dTexts in
                            ContrastiveLoss<Double>().forwardBackward(
                                images: images.baseAddress!, texts: texts.baseAddress!, total: total, negatives: total, dim: dim,
                                offset: 0, count: total, logitScale: fixture.logitScale, duplicateKeys: keys.baseAddress!,
                                dImages: dImages.baseAddress!, dTexts: dTexts.baseAddress!)
                        }
                    }
                }
            }
        }
        XCTAssertEqual(result.localLoss, fixture.loss, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(result.logitScaleGradient, fixture.dLogitScale, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(result.maskedKeys, fixture.maskedKeys)
        assertClose(dImages, fixture.dImages, tolerance: Tolerance.doubleReordering, "d loss / d images")
        assertClose(dTexts, fixture.dTexts, tolerance: Tolerance.doubleReordering, "d loss / d captions and negatives")
    }
}
