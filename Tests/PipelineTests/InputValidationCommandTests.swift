import Foundation
import HDF5Files
import TestSupport
import XCTest

/// The real `discern` binary on mutated model directories, configs and caption files: a clear
/// message and a non-zero exit, never a signal, and no output file.
final class InputValidationCommandTests: XCTestCase {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../ModelsTests/Fixtures/gqa").standardized
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("discern-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "a red circle\r\na blue square\r\n\r\ntwo green triangles\r\n".write(to: folder.appendingPathComponent("captions.txt"),
                                                                              atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    /// A copy of the fixture model with `file`'s text replaced by `change`.
    func mutatedModel(_ file: String, _ change: (String) -> String) throws -> URL {
        let copy = folder.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for name in ["config.json", "tokenizer.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: Self.model.appendingPathComponent(name), to: copy.appendingPathComponent(name))
        }
        let target = copy.appendingPathComponent(file)
        try change(try String(contentsOf: target, encoding: .utf8)).write(to: target, atomically: true, encoding: .utf8)
        return copy
    }

    func embed(_ model: URL, output: URL) throws -> ChildResult {
        try runChild(try locateDiscern(), ["embed", "--model", model.path, "--texts", folder.appendingPathComponent("captions.txt").path,
                                           "--output", output.path], environment: childEnvironment, timeout: 60)
    }

    func testMutatedModelFilesAreCleanErrors() throws {
        let cases: [(file: String, change: (String) -> String, message: String)] = [
            ("config.json", { $0.replacingOccurrences(of: #""num_key_value_heads": 2"#, with: #""num_key_value_heads": 0"#) },
             "config.json: text_config.num_key_value_heads is 0; it must be a positive divisor of num_attention_heads"),
            ("config.json", { $0.replacingOccurrences(of: #""rms_norm_eps": 1e-06"#, with: #""rms_norm_eps": -1e-06"#) },
             "config.json: text_config.rms_norm_eps is -1e-06; it must be a positive, finite number."),
            ("config.json", { $0.replacingOccurrences(of: #""vocab_size": 1075"#, with: #""vocab_size": 1075, "vocab_size": 1075"#) },
             #"config.json: is not valid JSON (invalid JSON at line"#),
            ("tokenizer.json", { $0.replacingOccurrences(of: #""added_tokens": ["#, with: #""added_tokens": [{"id": 5000, "content": "<extra>", "special": true},"#) },
             "tokenizer.json: token '<extra>' (added_tokens) has id 5000"),
        ]
        for (file, change, message) in cases {
            let model = try mutatedModel(file, change)
            let text = try String(contentsOf: model.appendingPathComponent(file), encoding: .utf8)
            XCTAssertNotEqual(text, try String(contentsOf: Self.model.appendingPathComponent(file), encoding: .utf8), "the mutation applies")
            let output = folder.appendingPathComponent("out.h5")
            let result = try embed(model, output: output)
            XCTAssertEqual(result.status, 1, result.transcript)
            XCTAssertFalse(result.timedOut, result.transcript)
            XCTAssertTrue(result.standardError.contains(message), "expected '\(message)':\n\(result.transcript)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "no output on an error")
        }
    }

    func testCRLFCaptionFilesGiveOneCaptionPerLine() throws {
        let output = folder.appendingPathComponent("crlf.h5")
        let result = try embed(Self.model, output: output)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertEqual(try H5File.open(output.path).read("/text_embeddings", as: Float.self).shape, [3, 48], "three captions, not one")
    }

    /// `~` means the home directory in the file, in --set and in the flags; YAML null is refused.
    func testTildeAndNullPathsInTheConfigCommand() throws {
        let config = folder.appendingPathComponent("run.yaml")
        var environment = childEnvironment
        environment["HOME"] = folder.path
        try "run_dir: ~/runs/a\n".write(to: config, atomically: true, encoding: .utf8)
        var result = try runChild(try locateDiscern(), ["config", "show", "--config", config.path], environment: environment, timeout: 30)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(result.standardOutput.contains("run_dir: \(folder.path)/runs/a\n"), result.transcript)
        result = try runChild(try locateDiscern(), ["config", "show", "--set", "data=~/d"], environment: environment, timeout: 30)
        XCTAssertTrue(result.standardOutput.contains("data: \(folder.path)/d\n"), result.transcript)
        try "run_dir: ~\n".write(to: config, atomically: true, encoding: .utf8)
        result = try runChild(try locateDiscern(), ["config", "show", "--config", config.path], environment: environment, timeout: 30)
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.standardError.contains("run.yaml:1: run_dir is null"), result.transcript)
        try "optimizer:\n  beta1: 1\n".write(to: config, atomically: true, encoding: .utf8)
        result = try runChild(try locateDiscern(), ["config", "show", "--config", config.path], environment: environment, timeout: 30)
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.standardError.contains("run.yaml:2: optimizer.beta1: 1 is out of range; it must be in [0, 1)."), result.transcript)
    }

    /// A quoted `~/x` path flag lands in the home directory, not in a folder named `~`.
    func testQuotedTildeInPathFlagsExpands() throws {
        var environment = childEnvironment
        environment["HOME"] = folder.path
        let result = try runChild(try locateDiscern(), ["init-model", "--output", "~/tiny"], environment: environment, timeout: 60)
        XCTAssertEqual(result.status, 0, result.transcript)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.path + "/tiny/config.json"), result.transcript)
        XCTAssertFalse(FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/~"), "no ./~ folder")
        let refused = try runChild(try locateDiscern(), ["init-model", "--output", "~nobody/tiny"], environment: environment, timeout: 60)
        XCTAssertNotEqual(refused.status, 0, refused.transcript)
        XCTAssertTrue(refused.standardError.contains("`~user` paths are not supported"), refused.transcript)
    }

    /// Evaluation JSONL lines and adapter configs are read by the strict parser too.
    func testEvalJSONLAndAdapterConfigAreStrict() throws {
        let data = folder.appendingPathComponent("eval.jsonl")
        try "{\"image\": \"a.png\", \"caption\": \"x\", \"caption\": \"y\"}\n".write(to: data, atomically: true, encoding: .utf8)
        var result = try runChild(try locateDiscern(), ["eval", "--model", Self.model.path, "--data", data.path],
                                  environment: childEnvironment, timeout: 60)
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.standardError.contains("eval.jsonl:1: is not valid JSON (invalid JSON at line 1, column 36 (byte 35): duplicate key \"caption\")"),
                      result.transcript)
        let adapters = folder.appendingPathComponent("export/lora")
        try FileManager.default.createDirectory(at: adapters, withIntermediateDirectories: true)
        try #"{"peft_type": "LORA", "r": 4, "lora_alpha": 8,}"#.write(to: adapters.appendingPathComponent("adapter_config.json"), atomically: true, encoding: .utf8)
        result = try runChild(try locateDiscern(), ["embed", "--model", Self.model.path, "--adapters", adapters.deletingLastPathComponent().path,
                                                    "--texts", folder.appendingPathComponent("captions.txt").path,
                                                    "--output", folder.appendingPathComponent("a.h5").path], environment: childEnvironment, timeout: 60)
        XCTAssertEqual(result.status, 1, result.transcript)
        XCTAssertTrue(result.standardError.contains("adapter_config.json: is not valid JSON (invalid JSON at line 1, column 47 (byte 46): expected a string key"), result.transcript)
    }

    /// Eval reports read by compare and summarize go through the strict parser.
    func testReportsWithDuplicateKeysAreRefused() throws {
        let report = folder.appendingPathComponent("report.json")
        try #"{"images": 3, "images": 4}"#.write(to: report, atomically: true, encoding: .utf8)
        for arguments in [["compare", report.path, report.path], ["summarize", report.path]] {
            let result = try runChild(try locateDiscern(), arguments, environment: childEnvironment, timeout: 30)
            XCTAssertEqual(result.status, 1, result.transcript)
            XCTAssertTrue(result.standardError.contains("report.json: is not valid JSON (invalid JSON at line 1, column 15 (byte 14): duplicate key \"images\")"),
                          result.transcript)
        }
    }
}
