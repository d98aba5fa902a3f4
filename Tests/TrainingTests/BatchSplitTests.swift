import Configuration
import XCTest

final class BatchSplitTests: XCTestCase {
    /// The ranks' positions tile the global batch in rank order, each the same size.
    func testPositionsTileTheGlobalBatch() throws {
        for ranks in [1, 2, 3, 4, 6, 12] {
            let split = try BatchSplit(global: 12, ranks: ranks)
            let all = (0..<ranks).flatMap { Array(split.positions(rank: $0)) }
            XCTAssertEqual(all, Array(0..<12), "\(ranks) ranks")
            XCTAssertEqual(split.perRank * ranks, 12)
        }
        XCTAssertEqual(try BatchSplit(global: 12, ranks: 3).positions(rank: 2), 8..<12)
    }

    /// A global batch that does not divide, or is not positive, is refused with the fix.
    func testRefusesWhatCannotBeSplit() {
        XCTAssertEqual(catching { try BatchSplit(global: 10, ranks: 3) }.map { "\($0)" },
                       "global_batch 10 does not divide by the 3 ranks; use a multiple of 3.")
        XCTAssertEqual(catching { try BatchSplit(global: 0, ranks: 1) }.map { "\($0)" }, "global_batch 0 must be positive.")
    }

    private func catching(_ body: () throws -> BatchSplit) -> Error? {
        do { _ = try body(); return nil } catch { return error }
    }
}
