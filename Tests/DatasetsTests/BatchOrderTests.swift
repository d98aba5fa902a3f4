import Datasets
import XCTest

final class BatchOrderTests: XCTestCase {
    /// 36 samples, global batch 6: 6 steps per epoch, and 6 divides by 1, 2 and 3 ranks.
    private let order = try! BatchOrder(sampleCount: 36, globalBatchSize: 6, seed: 2024)

    func testEverySampleOncePerEpochForEveryWorldSize() throws {
        for worldSize in [1, 2, 3] {
            for epoch in 0..<3 {
                let epochOrder = order.epochOrder(epoch)
                var seen: [Int] = []
                for step in 0..<order.stepsPerEpoch {
                    var union: [Int] = []
                    for rank in 0..<worldSize {
                        let share = 6 / worldSize
                        union += epochOrder.rankBatch(step: step, positions: (rank * share)..<((rank + 1) * share))
                    }
                    // The ranks together hold exactly the one-rank batch, in its order.
                    XCTAssertEqual(union, Array(epochOrder.globalBatch(step: step)),
                                   "world \(worldSize), epoch \(epoch), step \(step)")
                    XCTAssertEqual(union, Array(epochOrder.rankBatch(step: step, positions: 0..<6)))
                    seen += union
                }
                XCTAssertEqual(seen.sorted(), Array(0..<36), "world \(worldSize), epoch \(epoch)")
            }
        }
    }

    func testOrderIsAPureFunctionOfSeedAndEpoch() throws {
        XCTAssertEqual(order.permutation(epoch: 4), order.permutation(epoch: 4))
        let again = try BatchOrder(sampleCount: 36, globalBatchSize: 12, seed: 2024)
        XCTAssertEqual(again.permutation(epoch: 1), order.permutation(epoch: 1), "the batch size must not matter")
        XCTAssertNotEqual(order.permutation(epoch: 0), order.permutation(epoch: 1))
        XCTAssertNotEqual(order.permutation(epoch: 0),
                          try BatchOrder(sampleCount: 36, globalBatchSize: 6, seed: 2025).permutation(epoch: 0))
        XCTAssertNotEqual(order.permutation(epoch: 0), Array(0..<36), "the order must be shuffled")
    }

    /// Values from an independent Python transcription of the algorithm in docs/data.md
    /// (Xoshiro256** seeded by SplitMix64, epoch seed, Fisher-Yates with multiply-high), so the
    /// order can be reproduced outside Discern and any change to it is caught.
    func testPermutationMatchesTheDocumentedAlgorithm() throws {
        let ten = try BatchOrder(sampleCount: 10, globalBatchSize: 1, seed: 42)
        XCTAssertEqual(ten.permutation(epoch: 0), [3, 2, 7, 4, 5, 6, 8, 9, 1, 0])
        XCTAssertEqual(ten.permutation(epoch: 1), [3, 2, 4, 1, 6, 0, 5, 8, 7, 9])
        XCTAssertEqual(try BatchOrder(sampleCount: 12, globalBatchSize: 1, seed: 0).permutation(epoch: 3),
                       [7, 2, 3, 8, 10, 9, 4, 1, 0, 6, 5, 11])
    }

    func testRemainderIsDroppedEachEpoch() throws {
        let uneven = try BatchOrder(sampleCount: 20, globalBatchSize: 6, seed: 1)
        XCTAssertEqual(uneven.stepsPerEpoch, 3)
        let epochOrder = uneven.epochOrder(0)
        let used = (0..<3).flatMap { epochOrder.globalBatch(step: $0) }
        XCTAssertEqual(used.count, 18)
        XCTAssertEqual(Set(used).count, 18, "no sample twice in an epoch")
    }

    func testCursorFollowsTheGlobalStep() {
        XCTAssertEqual(order.cursor(globalStep: 0), BatchCursor(epoch: 0, stepInEpoch: 0))
        XCTAssertEqual(order.cursor(globalStep: 5), BatchCursor(epoch: 0, stepInEpoch: 5))
        XCTAssertEqual(order.cursor(globalStep: 6), BatchCursor(epoch: 1, stepInEpoch: 0))
        XCTAssertEqual(order.cursor(globalStep: 20), BatchCursor(epoch: 3, stepInEpoch: 2))
        XCTAssertEqual(order.globalStep(BatchCursor(epoch: 3, stepInEpoch: 2)), 20)
    }

    func testMicroBatches() throws {
        XCTAssertEqual(BatchOrder.microBatches(4..<12, size: 3), [4..<7, 7..<10, 10..<12])
        XCTAssertEqual(BatchOrder.microBatches(0..<4, size: 4), [0..<4])
        XCTAssertNotNil(catching { try BatchOrder(sampleCount: 5, globalBatchSize: 6, seed: 0) })
        XCTAssertNotNil(catching { try BatchOrder(sampleCount: 5, globalBatchSize: 0, seed: 0) })
    }

    private func catching(_ body: () throws -> Any) -> Error? {
        do { _ = try body() } catch { return error }
        return nil
    }
}
