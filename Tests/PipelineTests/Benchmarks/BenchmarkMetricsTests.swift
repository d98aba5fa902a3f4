import Evaluation
import TestSupport
import XCTest

/// The published benchmarks' scores on similarity matrices checked by hand.
final class BenchmarkMetricsTests: XCTestCase {
    /// Images A and B, two captions each (a0 a1 | b0 b1). Worked out by hand:
    ///   image A: own a0 0.1, a1 0.9; wrong b0 0.5, b1 0.2. Best own 0.9 beats every wrong caption: found at 1.
    ///            Its first caption a0 (0.1) has b0 and b1 above it: the first-caption rule misses at 1, finds at 5.
    ///   image B: own b0 0.8 (best, and first), b1 0.0; wrong a0 0.3, a1 0.4: found at 1 by both rules.
    ///   text->image: a0 (A 0.1 < B 0.3) miss; a1 (0.9 > 0.4) hit; b0 (0.8 > 0.5) hit; b1 (0.0 < 0.2) miss.
    /// So i->t R@1 is 1.0 by the standard (any-caption) rule and 0.5 by the first-caption rule.
    func testAnyCaptionRuleDiffersFromFirstCaptionRule() {
        let similarity: [Float] = [
            0.1, 0.9, 0.5, 0.2,   // image A
            0.3, 0.4, 0.8, 0.0,   // image B
        ]
        let owner = [0, 0, 1, 1]
        let (i2t, t2i) = RetrievalMetrics.recall(similarity: similarity, images: 2, captionImage: owner)
        XCTAssertEqual(i2t.r1, 1.0)
        XCTAssertEqual(t2i.r1, 0.5)
        XCTAssertEqual(t2i.r5, 1.0)
        // The rule the standard protocol does not use, by brute force, to show the case tells them apart.
        let firstCaption = (0..<2).map { image -> Bool in
            let first = owner.firstIndex(of: image)!
            return !(0..<4).contains { owner[$0] != image && similarity[image * 4 + $0] >= similarity[image * 4 + first] }
        }
        XCTAssertEqual(firstCaption, [false, true], "first-caption rule: A missed at 1, B found")
        XCTAssertNotEqual(i2t.r1, Double(firstCaption.filter { $0 }.count) / 2)
    }

    /// SugarCrepe's groups are the mean of their categories, missing categories left out.
    func testSugarCrepeGroupMeans() {
        let accuracies = ["add_att": 0.5, "add_obj": 1.0, "replace_att": 0.25, "replace_obj": 0.5, "replace_rel": 0.75, "swap_obj": 0.2]
        let groups = BenchmarkMetrics.sugarCrepeGroups(accuracies)
        XCTAssertEqual(groups["add"]!, 0.75, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(groups["replace"]!, 0.5, accuracy: Tolerance.doubleReordering)
        XCTAssertEqual(groups["swap"]!, 0.2, accuracy: Tolerance.doubleReordering, "swap_att is missing: the mean of what is there")
        XCTAssertNil(BenchmarkMetrics.sugarCrepeGroups(["add_att": 1])["swap"], "no swap category, no swap group")
    }

    /// Four examples: both right; text right only; image right only; a tie (fails both).
    ///   1: c0i0 .9 c0i1 .1 c1i0 .2 c1i1 .8: text (.9>.2, .8>.1) image (.9>.1, .8>.2) -> group
    ///   2: c0i0 .9 c0i1 .95 c1i0 .1 c1i1 .99: text (.9>.1, .99>.95) yes; image (.9>.95) no
    ///   3: c0i0 .5 c0i1 .1 c1i0 .6 c1i1 .7: text (.5>.6) no; image (.5>.1, .7>.6) yes
    ///   4: all .3: nothing
    func testWinogroundScores() {
        let pairs = [
            BenchmarkMetrics.WinogroundPair(c0i0: 0.9, c0i1: 0.1, c1i0: 0.2, c1i1: 0.8),
            BenchmarkMetrics.WinogroundPair(c0i0: 0.9, c0i1: 0.95, c1i0: 0.1, c1i1: 0.99),
            BenchmarkMetrics.WinogroundPair(c0i0: 0.5, c0i1: 0.1, c1i0: 0.6, c1i1: 0.7),
            BenchmarkMetrics.WinogroundPair(c0i0: 0.3, c0i1: 0.3, c1i0: 0.3, c1i1: 0.3),
        ]
        XCTAssertEqual(BenchmarkMetrics.winoground(pairs), .init(text: 0.5, image: 0.5, group: 0.25))
    }
}
