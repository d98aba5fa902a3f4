import Foundation
import TestSupport
import XCTest

/// Duplicate masking through the whole step under real mpirun: the worker's `duplicates` batch
/// puts pair 0's caption (up to case and spaces) on pair 5 and pair 1's image on pair 3, so on 2
/// and 3 ranks each duplicate's partner lives on another rank.
extension DistributedEquivalenceTests {
    func testMaskedDuplicatesOnOtherRanksAgreeWithOneProcess() throws {
        try assertAgree(variants: [(2, 0), (3, 0), (1, 3)], hardNegatives: true, options: ["duplicates"])
        // The worker prints the masked entries per step: 2 relations, 2 entries each way, 2 directions.
        let masked = try run(ranks: 3, microBatch: 0, hardNegatives: true, options: ["duplicates"])
        XCTAssertTrue(masked.lines.allSatisfy { $0.hasSuffix(" masked 8") }, "\(masked.lines)")
        // And the mask matters: the same batch unmasked trains otherwise.
        let unmasked = try run(ranks: 3, microBatch: 0, hardNegatives: true, options: ["duplicates", "no-mask"])
        XCTAssertGreaterThan(abs(numbers(masked.lines[0])[2] - numbers(unmasked.lines[0])[2]), 1e-4,
                             "\(masked.lines[0]) vs \(unmasked.lines[0])")
        XCTAssertTrue(unmasked.lines.allSatisfy { $0.hasSuffix(" masked 0") }, "\(unmasked.lines)")
    }

    /// Qwen2-VL: the same duplicates among images of six different sizes.
    func testQwen2VLMaskedDuplicatesAgreeWithOneProcess() throws {
        try assertAgree(variants: [(2, 0), (3, 0), (1, 2)], hardNegatives: true, model: Self.qwen2VL, options: ["duplicates"])
    }

    /// A batch without duplicates trains bit for bit the same with masking on and off: the mask
    /// adds no arithmetic, so every run that has no duplicates keeps its old numbers.
    func testMaskingWithoutDuplicatesIsBitIdentical() throws {
        for ranks in [1, 2] {
            let on = try run(ranks: ranks, microBatch: 0, hardNegatives: true)
            let off = try run(ranks: ranks, microBatch: 0, hardNegatives: true, options: ["no-mask"])
            XCTAssertEqual(on.lines, off.lines, "\(ranks) rank(s)")
            XCTAssertEqual(on.firstGradient, off.firstGradient, "\(ranks) rank(s): first gradients")
            XCTAssertEqual(on.parameters, off.parameters, "\(ranks) rank(s): parameters after 3 steps")
        }
    }
}
