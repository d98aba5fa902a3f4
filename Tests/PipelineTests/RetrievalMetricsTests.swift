import Evaluation
import TestSupport
import XCTest

final class RetrievalMetricsTests: XCTestCase {
    /// 3 images, 4 captions (image 0 has captions 0 and 3). Worked out by hand:
    ///   image 0: own best = max(0.9, 0.2) = 0.9, no wrong caption >= 0.9 -> rank 0
    ///   image 1: own 0.5; wrong captions >= 0.5: c0 (0.8) -> rank 1
    ///   image 2: own 0.1; wrong >= 0.1: c0 0.3, c1 0.6, c3 0.4 -> rank 3
    ///   caption 0 (image 0, 0.9): other images >= 0.9: none -> rank 0
    ///   caption 1 (image 1, 0.5): image 2 has 0.6 -> rank 1
    ///   caption 2 (image 2, 0.1): images 0 (0.1, a tie) and 1 (0.7) -> rank 2
    ///   caption 3 (image 0, 0.2): image 2 (0.4) -> rank 1
    func testHandComputedCase() {
        let similarity: [Float] = [
            0.9, 0.3, 0.1, 0.2,   // image 0
            0.8, 0.5, 0.7, 0.0,   // image 1
            0.3, 0.6, 0.1, 0.4,   // image 2
        ]
        let (i2t, t2i) = RetrievalMetrics.recall(similarity: similarity, images: 3, captionImage: [0, 1, 2, 0])
        XCTAssertEqual(i2t.r1, 1.0 / 3, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(i2t.r5, 1, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(t2i.r1, 1.0 / 4, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(t2i.r5, 1, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(t2i.r10, 1)
        XCTAssertEqual(RetrievalMetrics.accuracy(positive: [0.5, 0.2, 0.3], negative: [0.4, 0.2, 0.9]), 1.0 / 3, accuracy: Tolerance.doubleReordering)
    }
}
