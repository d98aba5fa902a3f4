import Datasets
import Foundation
import Kernels
import TestSupport
import XCTest

/// A train split that cannot feed the objective is refused before training (it used to "train"
/// with loss 0 and exit 0, or silently use fewer hard negatives than asked).
extension TrainCommandTests {
    /// Writes 12 pairs to `name` with the given captions present.
    /// With `onePerPair`, pair i stores only negative type i mod count (what `discern synth
    /// --train-negatives` does).
    func writeData(_ name: String, short: Bool, long: Bool, negatives: [String] = [], onePerPair: Bool = false) throws -> String {
        let data = folder.appendingPathComponent(name).path
        let writer = try ShardWriter(directory: data, split: "train", imageSize: 16, samplesPerShard: 10)
        var random = Xoshiro256(seed: 5)
        for i in 0..<12 {
            let image = (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }
            try writer.append(Sample(id: "p\(i)", image: image, short: short ? "a red circle \(i)" : nil,
                                     long: long ? "A long caption \(i)." : nil,
                                     negatives: Dictionary(uniqueKeysWithValues: negatives.enumerated()
                                        .filter { !onePerPair || $0.offset == i % negatives.count }.map { ($0.element, "\($0.element) \(i)") })))
        }
        try writer.finish()
        return data
    }

    func testDataThatCannotFeedTheObjectiveIsRefused() throws {
        let shortless = try writeData("shortless", short: false, long: true)
        let longless = try writeData("longless", short: true, long: false)
        let twoTypes = try writeData("two-types", short: true, long: true, negatives: ["swap_objects", "swap_attributes"])
        let onePerPair = try writeData("one-per-pair", short: true, long: true, negatives: ["swap_objects", "swap_attributes"], onePerPair: true)
        func on(_ data: String, _ extra: [String] = []) -> [String] {
            arguments(run: "refused", steps: 2).map { $0 == folder.appendingPathComponent("data").path ? data : $0 } + extra
        }
        let cases: [([String], String)] = [
            (on(shortless), "has no short captions, so the contrastive loss (loss.contrastive: 1.0) has no pair to learn from"),
            (on(longless), "has no long captions, so the next-token loss"),
            (on(twoTypes, ["--set", "loss.hard_negatives=3"]),
             "loss.hard_negatives is 3 but the train split stores at most 2 per pair (types: swap_attributes, swap_objects)"),
            (on(onePerPair, ["--set", "loss.hard_negatives=2"]),
             "loss.hard_negatives is 2 but the train split stores at most 1 per pair (types: swap_attributes, swap_objects); set loss.hard_negatives to at most 1, or store more"),
        ]
        for (arguments, message) in cases {
            let result = try train(arguments)
            XCTAssertNotEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardError.contains(message), "expected '\(message)':\n\(result.transcript)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("refused/metrics.jsonl").path),
                           "a refused run must not start: \(result.transcript)")
        }
        // The same data trains once the objective matches what it holds.
        let fitting = try train(on(longless, ["--set", "loss.ntp_captions=short"]))
        XCTAssertEqual(fitting.status, 0, fitting.transcript)
    }
}
