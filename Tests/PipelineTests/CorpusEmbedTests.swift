import Datasets
import Evaluation
import Foundation
import HDF5Files
import Images
import Kernels
import ModelFiles
import TestSupport
import XCTest

/// `discern embed --manifest/--data` as a user runs it, alone and under real mpirun: the file
/// does not depend on the rank count, a failed run's finished chunks are reused, bad inputs are
/// clear errors that leave no file.
final class CorpusEmbedTests: XCTestCase {
    static let model = EmbedTests.model.path
    var folder: URL!
    var manifest: URL { folder.appendingPathComponent("corpus.jsonl") }
    /// 14 items in chunks of 4 (the last one shorter) and forward passes of 3: chunk, batch
    /// and rank boundaries all fall at different items.
    static let itemCount = 14
    let chunking = ["--chunk-size", "4", "--batch-size", "3"]

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("images"), withIntermediateDirectories: true)
        var random = Xoshiro256(seed: 5)
        var lines: [String] = []
        for i in 0..<Self.itemCount {
            let side = 12 + i % 5   // other sizes: the model's processor resizes each
            let pixels = (0..<side * side * 3).map { _ in UInt8(random.next() % 256) }
            try writePNG(RGBImage(width: side, height: side, pixels: pixels), to: folder.appendingPathComponent("images/\(i).png").path)
            // Every fourth item has no caption (its image is embedded, no text), item 6 a list of two.
            let caption = i % 4 == 3 ? "" : i == 6 ? #", "short": ["a picture of thing 6", "thing 6 again"]"#
                                                    : #", "caption": "a picture of thing \#(i)""#
            lines.append(#"{"id": "item-\#(i)", "image": "images/\#(i).png"\#(caption)}"#)
        }
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
    }

    /// The captions of setUp's manifest with their items, in file order.
    static var captions: [(item: Int, text: String)] {
        (0..<itemCount).filter { $0 % 4 != 3 }.flatMap { i in
            i == 6 ? [(i, "a picture of thing 6"), (i, "thing 6 again")] : [(i, "a picture of thing \(i)")]
        }
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    func embed(_ input: [String], output: String, ranks: Int, extra: [String] = [], model: String = CorpusEmbedTests.model) throws -> ChildResult {
        let arguments = ["embed", "--model", model] + input + ["--output", folder.appendingPathComponent(output).path] + chunking + extra
        return ranks == 0 ? try runChild(try locateDiscern(), arguments, environment: childEnvironment, timeout: 120)
                          : try runMPIJob(ranks: ranks, executable: try locateDiscern(), arguments: arguments, timeout: 120)
    }

    func bytes(_ name: String) throws -> Data { try Data(contentsOf: folder.appendingPathComponent(name)) }

    /// One process without MPI, and 1, 2, 3 ranks of mpirun: the same bytes (the file is written
    /// without object times), and the contents are the embedder's own embeddings of each item.
    func testOneTwoAndThreeRanksWriteTheSameFile() throws {
        for ranks in 0...3 {
            let result = try embed(["--manifest", manifest.path], output: "ranks-\(ranks).h5", ranks: ranks)
            XCTAssertEqual(result.status, 0, result.transcript)
            XCTAssertTrue(result.standardOutput.contains("wrote \(Self.itemCount) items (48 wide)"), result.transcript)
            XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("ranks-\(ranks).h5.parts").path))
        }
        let reference = try bytes("ranks-0.h5")
        for ranks in 1...3 { XCTAssertEqual(try bytes("ranks-\(ranks).h5"), reference, "\(ranks) rank(s) wrote other bytes than one process") }

        let path = folder.appendingPathComponent("ranks-2.h5").path
        guard case .sealed = try FileSeal.verify(path, remedy: "") else { return XCTFail("the output is not sealed") }
        let file = try H5File.open(path)
        XCTAssertEqual(try file.readStrings("/ids").values, (0..<Self.itemCount).map { "item-\($0)" })
        let captions = Self.captions
        XCTAssertEqual(try file.read("/text_items", as: Int64.self).values, captions.map { Int64($0.item) })
        XCTAssertEqual(try file.readStrings("/texts").values, captions.map(\.text))
        XCTAssertEqual(try file.stringAttribute("model"), Self.model)
        XCTAssertEqual(try file.stringAttribute("text_prompt"), Embedder.defaultTextPrompt)
        XCTAssertTrue(try file.stringAttribute("source").hasPrefix("manifest \(manifest.path) (14 items"))

        let embedder = try Embedder(directory: try ModelDirectory(path: Self.model), batchSize: 3)
        let images = try embedder.embedImages((0..<Self.itemCount).map { try loadImage(path: folder.appendingPathComponent("images/\($0).png").path) })
        let texts = try embedder.embedTexts(captions.map(\.text))
        let stored = try file.read("/image_embeddings", as: Float.self), storedTexts = try file.read("/text_embeddings", as: Float.self)
        XCTAssertEqual(stored.shape, [Self.itemCount, 48])
        XCTAssertEqual(storedTexts.shape, [captions.count, 48])
        // Other batch compositions (chunks cut batches) round the last bits differently: EmbedTests' bound.
        XCTAssertLessThanOrEqual(zip(stored.values, images).map { abs($0 - $1) }.max()!, EmbedTests.tolerance)
        XCTAssertLessThanOrEqual(zip(storedTexts.values, texts).map { abs($0 - $1) }.max()!, EmbedTests.tolerance)
    }

    /// Qwen2-VL keeps each image at its own (smart-resized) size: still the same bytes on 1 and 3 ranks.
    func testQwen2VLOnOneAndThreeRanksWritesTheSameFile() throws {
        let model = EmbedTests.fixtures.appendingPathComponent("qwen2vl-a").path
        for ranks in [0, 3] {
            let result = try embed(["--manifest", manifest.path], output: "qwen-\(ranks).h5", ranks: ranks, model: model)
            XCTAssertEqual(result.status, 0, result.transcript)
        }
        XCTAssertEqual(try bytes("qwen-3.h5"), try bytes("qwen-0.h5"))
        let file = try H5File.open(folder.appendingPathComponent("qwen-0.h5").path)
        XCTAssertEqual(try file.stringAttribute("model"), model)
        XCTAssertEqual(try file.read("/image_embeddings", as: Float.self).shape, [Self.itemCount, 48])
    }

    /// Ranks that read other inputs stop before embedding anything, naming what differs.
    func testRanksWithOtherInputsDisagreeCleanly() throws {
        let other = folder.appendingPathComponent("other.jsonl")
        try String(contentsOf: manifest, encoding: .utf8).replacingOccurrences(of: "thing 5", with: "thing five")
            .write(to: other, atomically: true, encoding: .utf8)
        let discern = try locateDiscern().path, output = folder.appendingPathComponent("disagree.h5").path
        let result = try runMPMDJob(rankCommands: [[discern, "embed", "--model", Self.model, "--manifest", manifest.path, "--output", output],
                                                   [discern, "embed", "--model", Self.model, "--manifest", other.path, "--output", output]])
        XCTAssertNotEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardError.contains("ranks disagree on their embed settings"), result.transcript)
        XCTAssertTrue(result.standardError.contains("source: rank 0 manifest \(manifest.path)"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output + ".parts"), "nothing is written")
    }

    /// A prepared split: ids and captions (short, else long) come from the shards.
    func testPreparedSplitOnTwoRanksMatchesOneProcess() throws {
        let data = folder.appendingPathComponent("data").path
        let writer = try ShardWriter(directory: data, split: "eval", imageSize: 16, samplesPerShard: 5)
        var random = Xoshiro256(seed: 8)
        for i in 0..<9 {
            let shorts = i == 2 ? [] : i == 7 ? ["short 7", "short 7 again"] : ["short \(i)"]
            try writer.append(Sample(id: "s\(i)", image: (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }, width: 16, height: 16,
                                     shortCaptions: shorts, long: i == 4 ? nil : "long caption \(i)"))
        }
        try writer.finish()
        for ranks in [0, 2] {
            let result = try embed(["--data", data, "--split", "eval"], output: "split-\(ranks).h5", ranks: ranks)
            XCTAssertEqual(result.status, 0, result.transcript)
        }
        XCTAssertEqual(try bytes("split-2.h5"), try bytes("split-0.h5"))
        let file = try H5File.open(folder.appendingPathComponent("split-2.h5").path)
        XCTAssertEqual(try file.readStrings("/ids").values, (0..<9).map { "s\($0)" })
        XCTAssertEqual(try file.readStrings("/texts").values,
                       (0..<9).flatMap { $0 == 2 ? ["long caption 2"] : $0 == 7 ? ["short 7", "short 7 again"] : ["short \($0)"] })
        XCTAssertEqual(try file.read("/text_items", as: Int64.self).values, [0, 1, 2, 3, 4, 5, 6, 7, 7, 8])
        let missing = try embed(["--data", data, "--split", "train"], output: "none.h5", ranks: 2)
        XCTAssertNotEqual(missing.status, 0, missing.transcript)
        XCTAssertTrue(missing.standardError.contains("has no split 'train' (splits: eval)"), missing.transcript)
    }

    /// A run that stops on an unreadable image keeps the chunks finished so far; after the fix a
    /// rerun on another rank count embeds only the rest (a damaged part and a killed writer's
    /// temporary included) and writes the same bytes as a clean run.
    func testRerunAfterAFailedRunReusesFinishedChunks() throws {
        let clean = try embed(["--manifest", manifest.path], output: "clean.h5", ranks: 2)
        XCTAssertEqual(clean.status, 0, clean.transcript)
        let image = folder.appendingPathComponent("images/9.png")
        let good = try Data(contentsOf: image)
        try Data("not a png".utf8).write(to: image)
        // 2 ranks: round 0 embeds chunks 0 and 1, round 1 chunks 2 (items 8-11: fails at item 9) and 3.
        let failed = try embed(["--manifest", manifest.path], output: "resumed.h5", ranks: 2)
        XCTAssertNotEqual(failed.status, 0, failed.transcript)
        XCTAssertTrue(failed.standardError.contains("rank 0: \(manifest.path):10: unreadable image"), failed.transcript)
        XCTAssertEqual(failed.standardError.components(separatedBy: "unreadable image").count, 2, "one message, not one per rank: \(failed.transcript)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("resumed.h5").path))
        let parts = folder.appendingPathComponent("resumed.h5.parts")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parts.path).sorted(),
                       ["chunk-000000.h5", "chunk-000001.h5", "chunk-000003.h5"])

        try good.write(to: image)
        try flipLastByte(parts.appendingPathComponent("chunk-000001.h5"))
        try Data("half".utf8).write(to: parts.appendingPathComponent("chunk-000002.h5.tmp-99999"))
        let resumed = try embed(["--manifest", manifest.path], output: "resumed.h5", ranks: 3)
        XCTAssertEqual(resumed.status, 0, resumed.transcript)
        XCTAssertTrue(resumed.standardOutput.contains("reusing 2 of 4 finished chunks; 8 of 14 items to embed"), resumed.transcript)
        XCTAssertEqual(try bytes("resumed.h5"), try bytes("clean.h5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: parts.path))

        let again = try embed(["--manifest", manifest.path], output: "resumed.h5", ranks: 1)
        XCTAssertEqual(again.status, 0, again.transcript)
        XCTAssertTrue(again.standardOutput.contains("resumed.h5 is up to date (14 items"), again.transcript)
        // Other settings make other embeddings: nothing of the finished file is reused.
        let other = try embed(["--manifest", manifest.path], output: "resumed.h5", ranks: 2, extra: ["--text-prompt", "<sent>\nIn one word:"])
        XCTAssertEqual(other.status, 0, other.transcript)
        XCTAssertFalse(other.standardOutput.contains("reusing"), other.transcript)
        XCTAssertNotEqual(try bytes("resumed.h5"), try bytes("clean.h5"))
    }

    /// mpirun stopped by SIGTERM mid-run (as a preempted job is): the parts written so far are
    /// reused by a rerun on another rank count, and the file equals one uninterrupted process's.
    func testKilledRunResumesOnAnotherRankCount() throws {
        let data = folder.appendingPathComponent("data").path
        let writer = try ShardWriter(directory: data, split: "train", imageSize: 16, samplesPerShard: 500)
        var random = Xoshiro256(seed: 11)
        // Enough items (about 6 s of work on one core) that the run is still going when the
        // SIGTERM that mpirun forwards reaches its ranks, however fast the machine.
        for i in 0..<8000 {
            try writer.append(Sample(id: "k\(i)", image: (0..<16 * 16 * 3).map { _ in UInt8(random.next() % 256) }, short: "pair \(i)", long: nil))
        }
        try writer.finish()
        let input = ["--data", data, "--chunk-size", "32"]
        let output = folder.appendingPathComponent("killed.h5").path, parts = output + ".parts"
        let (process, log) = try startLogged(try locateMPIRun(), mpirunFlags + ["-np", "2", try locateDiscern().path, "embed", "--model", Self.model]
                                             + input + ["--output", output], log: folder.appendingPathComponent("killed.log"))
        defer { try? log.close() }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline, ((try? FileManager.default.contentsOfDirectory(atPath: parts))?.count ?? 0) < 6 {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let transcript = (try? String(contentsOf: folder.appendingPathComponent("killed.log"), encoding: .utf8)) ?? ""
        XCTAssertTrue(process.isRunning, "the run ended before it could be stopped: \(transcript)")
        process.terminate()
        process.waitUntilExit()
        while !processes(mentioning: [output], excluding: ["mpirun"]).isEmpty, Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "a stopped run leaves no output file")
        let finished = try FileManager.default.contentsOfDirectory(atPath: parts).filter { $0.hasSuffix(".h5") }.count
        XCTAssertGreaterThanOrEqual(finished, 5)
        XCTAssertLessThan(finished, 250)

        let resumed = try runMPIJob(ranks: 3, executable: try locateDiscern(), arguments: ["embed", "--model", Self.model] + input + ["--output", output],
                                    timeout: 120)
        XCTAssertEqual(resumed.status, 0, resumed.transcript)
        XCTAssertTrue(resumed.standardOutput.contains("killed.h5: reusing "), resumed.transcript)
        let clean = try runChild(try locateDiscern(), ["embed", "--model", Self.model] + input + ["--output", folder.appendingPathComponent("whole.h5").path],
                                 environment: childEnvironment, timeout: 120)
        XCTAssertEqual(clean.status, 0, clean.transcript)
        XCTAssertEqual(try bytes("killed.h5"), try bytes("whole.h5"))
    }

    func flipLastByte(_ url: URL) throws {
        var data = try Data(contentsOf: url)
        data[data.count - 1] ^= 0xff
        try data.write(to: url)
    }

    /// Each bad input names the file and line, once, exits non-zero and leaves no output file.
    func testBadInputsAreClearErrorsAndLeaveNoFile() throws {
        let lines = try String(contentsOf: manifest, encoding: .utf8).split(separator: "\n").map(String.init)
        func variant(_ name: String, line: Int, _ text: String) throws -> String {
            var changed = lines
            changed[line - 1] = text
            let path = folder.appendingPathComponent(name).path
            try changed.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let cases: [([String], String)] = [
            (["--manifest", folder.appendingPathComponent("absent.jsonl").path], "absent.jsonl: does not exist"),
            (["--manifest", try variant("json.jsonl", line: 3, #"{"image": "images/2.png", "#)], "json.jsonl:3: not JSON"),
            (["--manifest", try variant("missing.jsonl", line: 2, #"{"image": "images/nope.png"}"#)], "missing.jsonl:2: missing image"),
            (["--manifest", try variant("field.jsonl", line: 5, #"{"image": 4}"#)], "field.jsonl:5: wrong field"),
            (["--manifest", manifest.path, "--images", "a.png"], "give one kind"),
            (["--manifest", manifest.path, "--split", "eval"], "--split chooses a split of --data"),
        ]
        // Argument errors are each rank's own; the others are printed once.
        try assertEachFailsCleanly(cases, leaving: folder.appendingPathComponent("bad.h5"), printedOnce: { !$0.contains("one kind") && !$0.contains("--split") }) {
            try embed($0, output: "bad.h5", ranks: $1)
        }
        let typo = try embed(["--manifest", manifest.path], output: "no/such/x.h5", ranks: 2)
        XCTAssertNotEqual(typo.status, 0, typo.transcript)
        XCTAssertTrue(typo.standardError.contains("no/such' does not exist; create it first"), typo.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("no").path), "no folders are created")
        let files = try runMPIJob(ranks: 2, executable: try locateDiscern(), arguments: ["embed", "--model", Self.model, "--images",
            folder.appendingPathComponent("images/0.png").path, "--output", folder.appendingPathComponent("bad.h5").path], timeout: 60)
        XCTAssertNotEqual(files.status, 0, files.transcript)
        XCTAssertTrue(files.standardError.contains("--images/--texts run in one process"), files.transcript)
    }
}

/// Runs each case alone and on 2 ranks: a non-zero exit, the message on standard error (once on
/// 2 ranks where `printedOnce` says so) and no file at `output`.
func assertEachFailsCleanly(_ cases: [([String], String)], leaving output: URL, printedOnce: (String) -> Bool = { _ in true },
                            file: StaticString = #filePath, line: UInt = #line, run: ([String], Int) throws -> ChildResult) throws {
    for (input, message) in cases {
        for ranks in [0, 2] {
            let result = try run(input, ranks)
            XCTAssertNotEqual(result.status, 0, result.transcript, file: file, line: line)
            XCTAssertTrue(result.standardError.contains(message), "expected '\(message)' in: \(result.transcript)", file: file, line: line)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "\(input) left \(output.path)", file: file, line: line)
            if ranks == 2, printedOnce(message) {
                XCTAssertEqual(result.standardError.components(separatedBy: message).count, 2, "printed once: \(result.transcript)", file: file, line: line)
            }
        }
    }
}
