import Foundation
import TestSupport
import XCTest

/// The same global batch of 6 pairs, trained for 3 steps on 1, 2 and 3 ranks (real mpirun) and
/// with 2 micro-batches of 3 on one rank, must give the same losses and parameters.
final class DistributedEquivalenceTests: XCTestCase {
    /// Float32 sums in different orders (all-reduce, GEMM shapes) over 3 AdamW steps: measured
    /// differences are ~1e-7; the bound is 1e-5.
    static let tolerance = 1e-5
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures/gqa").standardized.path

    struct Run {
        let lines: [String]
        let parameters: [Float]
    }

    func run(ranks: Int, microBatch: Int) throws -> Run {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("discern-train-\(UUID().uuidString).bin")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try runMPIJob(ranks: ranks, executable: try locateWorker(),
                                   arguments: ["train-steps", Self.model, output.path, "\(microBatch)"], timeout: 120)
        XCTAssertEqual(result.status, 0, result.transcript)
        let data = try Data(contentsOf: output)
        let parameters = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let lines = result.standardOutput.split(separator: "\n").map(String.init).filter { $0.hasPrefix("step ") }
        XCTAssertEqual(lines.count, 3, result.transcript)
        return Run(lines: lines, parameters: parameters)
    }

    func numbers(_ line: String) -> [Double] { line.split(separator: " ").compactMap { Double($0) } }

    func testOneTwoThreeRanksAndMicroBatchesAgree() throws {
        let reference = try run(ranks: 1, microBatch: 0)
        for (ranks, micro) in [(2, 0), (3, 0), (1, 3), (2, 1)] {
            let other = try run(ranks: ranks, microBatch: micro)
            for (a, b) in zip(reference.lines, other.lines) {
                for (x, y) in zip(numbers(a), numbers(b)) {
                    XCTAssertEqual(x, y, accuracy: Self.tolerance * max(abs(x), 1), "\(ranks) ranks, micro-batch \(micro): \(a) vs \(b)")
                }
            }
            XCTAssertEqual(other.parameters.count, reference.parameters.count)
            let error = maxRelativeError(other.parameters, reference.parameters)
            XCTAssertLessThanOrEqual(error, Self.tolerance, "\(ranks) ranks, micro-batch \(micro): parameters differ by \(error)")
            print("equivalence: \(ranks) ranks, micro-batch \(micro): max relative parameter difference \(error)")
        }
        // And training did something.
        let first = numbers(reference.lines[0])[1], last = numbers(reference.lines[2])[1]
        XCTAssertNotEqual(first, last)
        print("equivalence: losses \(reference.lines)")
    }
}
