import Datasets
import Foundation
import Images
import XCTest

/// A test case with its own scratch directory, removed afterwards.
class DatasetTestCase: XCTestCase {
    private(set) var directory = "/nonexistent"

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("discern-datasets-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// An image whose every byte depends on the sample number, so a mix-up shows.
    static func image(_ number: Int, size: Int) -> [UInt8] {
        (0..<(size * size * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ number &* 31 &+ ($0 / 5)) }
    }

    /// Sample `number`: every third has no short caption, every fourth no long one, and every
    /// fifth carries negatives (one type on multiples of 10, two otherwise).
    static func sample(_ number: Int, size: Int) -> Sample {
        var negatives: [String: String] = [:]
        if number % 5 == 0 {
            negatives["swap_attribute"] = "negative \(number) é"
            if number % 10 != 0 { negatives["replace_object"] = "other \(number)" }
        }
        return Sample(id: "sample-\(number)", image: image(number, size: size),
                      short: number % 3 == 1 ? nil : "short caption \(number)",
                      long: number % 4 == 2 ? nil : "a long caption for number \(number) ünïcode",
                      negatives: negatives)
    }

    /// Writes samples 0..<count of `split` into `directory`.
    @discardableResult
    func writeSplit(_ split: String = "train", count: Int, size: Int = 4, perShard: Int = 4,
                    into directory: String? = nil) throws -> SplitDescription {
        let writer = try ShardWriter(directory: directory ?? self.directory, split: split, imageSize: size,
                                     samplesPerShard: perShard, createdBy: "tests")
        for number in 0..<count { try writer.append(Self.sample(number, size: size)) }
        return try writer.finish()
    }

    func bytes(_ relativePath: String, in directory: String? = nil) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: ((directory ?? self.directory) as NSString)
                                 .appendingPathComponent(relativePath)))
    }

    /// Runs `body`, which must throw, and returns the error's text.
    func errorText(_ what: String, file: StaticString = #filePath, line: UInt = #line,
                   _ body: () throws -> Void) -> String {
        do {
            try body()
            XCTFail("\(what): expected an error, nothing was thrown", file: file, line: line)
        } catch {
            return "\(error)"
        }
        return ""
    }

    /// Rewrites dataset.json through `edit` (to damage it on purpose).
    /// Edits the train split's entry of dataset.json.
    func editTrainSplit(_ edit: (inout [String: Any]) -> Void) throws {
        try editDescription { json in
            var splits = json["splits"] as! [String: Any]
            var train = splits["train"] as! [String: Any]
            edit(&train)
            splits["train"] = train
            json["splits"] = splits
        }
    }

    func editDescription(_ edit: (inout [String: Any]) -> Void) throws {
        let url = URL(fileURLWithPath: path(ShardSchema.descriptionFile))
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }
}

/// Format 3 (images at their own sizes) helpers: the sizing of Tests/ModelsTests/Fixtures/qwen2vl-a.
extension DatasetTestCase {
    static let ownSizing = OwnImageSizing(factor: 4, minPixels: 64, maxPixels: 400)
    /// (width, height) of the samples `writeOwnSplit` writes: every one differs from its neighbours.
    static let ownSizes = [(8, 8), (12, 8), (24, 12), (8, 24), (20, 16), (100, 4), (4, 4)]

    /// Sample `number` of `sample(_:size:)` with an image of its own size.
    static func ownSample(_ number: Int) -> Sample {
        let (width, height) = ownSizes[number % ownSizes.count]
        var sample = Self.sample(number, size: 1)
        sample.image = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ number &* 57) }
        (sample.width, sample.height) = (width, height)
        return sample
    }

    /// Writes `ownSample` 0..<count of `split` into `directory` as format 3 shards.
    @discardableResult
    func writeOwnSplit(_ split: String = "train", count: Int, perShard: Int = 3, deflateLevel: Int? = 1) throws -> SplitDescription {
        let writer = try ShardWriter(directory: directory, split: split, layout: .own(Self.ownSizing),
                                     samplesPerShard: perShard, createdBy: "tests", deflateLevel: deflateLevel)
        for number in 0..<count { try writer.append(Self.ownSample(number)) }
        return try writer.finish()
    }
}
