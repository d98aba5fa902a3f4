import Configuration
import Foundation
import Training
import XCTest

/// Each numeric key's range from the field table, checked at load and --set time; the rules
/// between keys when a run starts; `~` and null in paths.
final class ConfigRangeTests: XCTestCase {
    func yamlError(_ yaml: String) -> String? {
        do {
            _ = try ResolvedConfig.parse(yaml: yaml, source: "run.yaml")
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testOutOfRangeValuesNameTheFileLineAndKey() {
        let cases: [(yaml: String, message: String)] = [
            ("optimizer:\n  lr: -1e-4\n", "run.yaml:2: optimizer.lr: -1e-4 is out of range; it must be > 0."),
            ("optimizer:\n  lr: 0\n", "run.yaml:2: optimizer.lr: 0 is out of range"),
            ("optimizer:\n  eps: -1e-8\n", "run.yaml:2: optimizer.eps: -1e-8 is out of range; it must be in (0, 1]."),
            ("optimizer:\n  weight_decay: -0.01\n", "run.yaml:2: optimizer.weight_decay: -0.01 is out of range; it must be from 0 to 10."),
            ("optimizer:\n  grad_clip: -1\n", "run.yaml:2: optimizer.grad_clip: -1 is out of range"),
            ("optimizer:\n  beta1: 1.5\n", "run.yaml:2: optimizer.beta1: 1.5 is out of range; it must be in [0, 1)."),
            ("optimizer:\n  beta1: 1\n", "run.yaml:2: optimizer.beta1: 1 is out of range; it must be in [0, 1)."),
            ("optimizer:\n  beta2: -0.1\n", "run.yaml:2: optimizer.beta2: -0.1 is out of range"),
            ("optimizer:\n  warmup: 1e30\n", "run.yaml:2: optimizer.warmup: 1e30 is out of range; it must be from 0 to 1099511627776."),
            ("optimizer:\n  warmup: -0.1\n", "run.yaml:2: optimizer.warmup: -0.1 is out of range"),
            ("optimizer:\n  min_lr_ratio: 1.5\n", "run.yaml:2: optimizer.min_lr_ratio: 1.5 is out of range; it must be from 0 to 1."),
            ("checkpoint:\n  keep: 0\n", "run.yaml:2: checkpoint.keep: 0 is out of range; it must be from 1 to 1000000."),
            ("checkpoint:\n  every: -1\n", "run.yaml:2: checkpoint.every: -1 is out of range; it must be from 0 to 1099511627776."),
            ("lora:\n  alpha: 1e30\n", "run.yaml:2: lora.alpha: 1e30 is out of range; it must be in (0, 1000000]."),
            ("lora:\n  rank: 0\n", "run.yaml:2: lora.rank: 0 is out of range; it must be from 1 to 65536."),
            ("lora:\n  dropout: 1\n", "run.yaml:2: lora.dropout: 1 is out of range; it must be in [0, 1)."),
            ("loss:\n  ntp: -1\n", "run.yaml:2: loss.ntp: -1 is out of range"),
            ("loss:\n  hard_negatives: 17\n", "run.yaml:2: loss.hard_negatives: 17 is out of range; it must be from 0 to 16."),
            ("loss:\n  logit_scale: 100\n", "run.yaml:2: loss.logit_scale: 100 is out of range; it must be from 0 to 20."),
            ("steps: 0\n", "run.yaml:1: steps: 0 is out of range; it must be from 1 to 1099511627776."),
            ("steps: 9223372036854775807\n", "run.yaml:1: steps: 9223372036854775807 is out of range"),
            ("global_batch: -8\n", "run.yaml:1: global_batch: -8 is out of range"),
            ("micro_batch: -1\n", "run.yaml:1: micro_batch: -1 is out of range"),
            ("log_every: 0\n", "run.yaml:1: log_every: 0 is out of range"),
            ("threads: -2\n", "run.yaml:1: threads: -2 is out of range"),
            ("bench:\n  text_layers: 1099511627776\n", "run.yaml:2: bench.text_layers: 1099511627776 is out of range; it must be from 1 to 1048576."),
            ("optimizer:\n  lr: .inf\n", "run.yaml:2: optimizer.lr should be a number, found \".inf\"."),
            ("optimizer:\n  lr: .nan\n", "run.yaml:2: optimizer.lr should be a number, found \".nan\"."),
        ]
        for (yaml, message) in cases {
            let error = yamlError(yaml)
            XCTAssertNotNil(error, "accepted: \(yaml)")
            XCTAssertTrue(error?.hasPrefix(message) == true, "\(yaml): expected '\(message)', got: \(error ?? "")")
        }
        XCTAssertNil(yamlError("optimizer:\n  beta1: 0\n  warmup: 0\n  lr: 1e6\nlora:\n  dropout: 0.999\n"), "the ends of the ranges")
    }

    func testSetOverridesAreRangeCheckedToo() {
        var config = ResolvedConfig()
        XCTAssertThrowsError(try config.set("optimizer.beta2=1")) { error in
            XCTAssertEqual("\(error)", "--set: optimizer.beta2: 1 is out of range; it must be in [0, 1).")
        }
        XCTAssertThrowsError(try config.set(.steps, text: "-1")) { error in
            XCTAssertEqual("\(error)", "--steps: steps: -1 is out of range; it must be from 1 to 1099511627776.")
        }
        XCTAssertEqual(config, ResolvedConfig(), "a refused value leaves the configuration unchanged")
    }

    func testRangesAreListedInTheReference() {
        let reference = ConfigReference.markdown
        XCTAssertTrue(reference.contains("| `optimizer.beta1` | double | `0.9` | in [0, 1) |"), reference)
        XCTAssertTrue(reference.contains("| `checkpoint.keep` | int | `3` | from 1 to 1000000 |"), reference)
        for field in ConfigSchema.fields where field.kind == .int || field.kind == .double {
            if field.path == "seed" { XCTAssertNil(field.range); continue }
            let range = try! XCTUnwrap(field.range, "\(field.path) has no range")
            let value: Double
            switch field.defaultValue {
            case .int(let v): value = Double(v)
            case .double(let v): value = v
            default: XCTFail("\(field.path): default of the wrong kind"); continue
            }
            XCTAssertTrue(range.contains(value), "\(field.path): its default \(value) is outside \(range)")
        }
    }

    func testCrossKeyRulesAtRunStart() throws {
        func runError(_ assignments: [String]) -> String? {
            do {
                var config = ResolvedConfig()
                for assignment in assignments { try config.set(assignment) }
                _ = try RunSettings(config, softPromptLengths: (image: 2, text: 2), worldSize: 2)
                return nil
            } catch {
                return "\(error)"
            }
        }
        XCTAssertNil(runError([]))
        XCTAssertEqual(runError(["steps=10", "optimizer.warmup=2.5"]),
                       "optimizer.warmup: 2.5 is out of range; below 1 it is a fraction of steps, from 1 it must be a whole number of steps, at most steps (10).")
        XCTAssertNotNil(runError(["steps=10", "optimizer.warmup=11"]))
        XCTAssertNil(runError(["steps=10", "optimizer.warmup=10"]))
        XCTAssertEqual(runError(["loss.logit_scale=5"]), "loss.logit_scale 5.0 is above loss.max_logit_scale 4.605170185988092; the scale is clamped to [0, loss.max_logit_scale], so start inside it.")
        XCTAssertEqual(runError(["loss.contrastive=0", "loss.ntp=0"]), "loss.contrastive and loss.ntp are both 0; set at least one of them above 0, or there is nothing to learn from.")
        XCTAssertEqual(runError(["global_batch=7"]), "global_batch 7 does not divide by the 2 ranks; use a multiple of 2.")
        // Values set in code skip the parser; the run still checks them against the table.
        var config = ResolvedConfig()
        config.set("optimizer.beta1", .double(1))
        XCTAssertThrowsError(try RunSettings(config, softPromptLengths: (image: 2, text: 2), worldSize: 1)) { error in
            XCTAssertEqual("\(error)", "optimizer.beta1: 1.0 is out of range; it must be in [0, 1).")
        }
        var fraction = ResolvedConfig()
        try fraction.set("steps=200")
        try fraction.set("optimizer.warmup=0.03")
        XCTAssertEqual(fraction.warmupSteps, 6)
        try fraction.set("optimizer.warmup=20")
        XCTAssertEqual(fraction.warmupSteps, 20)
    }

    func testTildeExpandsTheSameWayInTheFileAndOnTheCommandLine() throws {
        let home = try XCTUnwrap(ProcessInfo.processInfo.environment["HOME"])
        let fromFile = try ResolvedConfig.parse(yaml: "run_dir: ~/runs/a\nmodel: \"~\"\ndata: data/x\n", source: "run.yaml")
        let file = RunConfiguration(fromFile)
        XCTAssertEqual(file.runDir, home + "/runs/a")
        XCTAssertEqual(file.model, home)
        XCTAssertEqual(file.data, "data/x")
        var fromFlags = ResolvedConfig()
        try fromFlags.set("run_dir=~/runs/a")
        XCTAssertEqual(RunConfiguration(fromFlags).runDir, home + "/runs/a")
        try fromFlags.set(.runDirectory, text: "~/runs/b")
        XCTAssertEqual(RunConfiguration(fromFlags).runDir, home + "/runs/b")
        XCTAssertEqual(try ResolvedConfig.parse(yaml: fromFile.yaml, source: "round trip"), fromFile, "stored configs read back")
    }

    func testNullAndUserTildePathsAreErrors() {
        for value in ["~", "null", "", "Null"] {
            XCTAssertEqual(yamlError("run_dir: \(value)\n"),
                           "run.yaml:1: run_dir is null (YAML reads `~`, `null` and an empty value as null); write the path (`~/runs/a` is a path; write \"~\" for the home directory itself).",
                           value)
        }
        XCTAssertEqual(yamlError("model: ~alice/models/x\n"),
                       "run.yaml:1: model is \"~alice/models/x\"; `~user` paths are not supported, write the full path.")
        var config = ResolvedConfig()
        XCTAssertThrowsError(try config.set(.data, text: "~bob")) { error in
            XCTAssertEqual("\(error)", "--data: data is \"~bob\"; `~user` paths are not supported, write the full path.")
        }
        XCTAssertNil(yamlError("run_dir: \"\"\n"), "an empty quoted path is the default's 'not given'")
    }
}
