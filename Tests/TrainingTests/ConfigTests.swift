import Configuration
import Foundation
import Training
import XCTest

final class ConfigTests: XCTestCase {
    func testDefaultsOverridesAndRoundTrip() throws {
        var config = try ResolvedConfig.parse(yaml: """
        model: checkpoints/tiny-base
        steps: 50
        optimizer:
          lr: 3e-4
          schedule: linear
        prompts:
          text: "<sent>\\nIn one word:"
        train:
          soft_prompts: no
        """, source: "test.yaml")
        var typed = RunConfiguration(config)
        XCTAssertEqual(typed.model, "checkpoints/tiny-base")
        XCTAssertEqual(typed.steps, 50)
        XCTAssertEqual(typed.optimizer.lr, 3e-4)
        XCTAssertEqual(typed.optimizer.schedule, .linear)
        XCTAssertEqual(typed.prompts.text, "<sent>\nIn one word:")
        XCTAssertFalse(typed.train.softPrompts)
        XCTAssertEqual(typed.globalBatch, 32, "default")
        try config.set("optimizer.lr=1e-3")
        try config.set("prompts.image=<image> describe:")
        typed = RunConfiguration(config)
        XCTAssertEqual(typed.optimizer.lr, 1e-3)
        XCTAssertEqual(typed.prompts.image, "<image> describe:")
        // The YAML the checkpoint stores reads back to the same configuration.
        XCTAssertEqual(try ResolvedConfig.parse(yaml: config.yaml, source: "round trip"), config)
    }

    func testUnknownKeyNamesTheClosestValidKey() {
        XCTAssertThrowsError(try ResolvedConfig.parse(yaml: "optimizer:\n  learning_rate: 1\n  lr: 2\n", source: "c.yaml")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("c.yaml:2"), message)
            XCTAssertTrue(message.contains("optimizer.learning_rate"), message)
            XCTAssertTrue(message.contains("Did you mean"), message)
        }
        XCTAssertThrowsError(try ResolvedConfig.parse(yaml: "global_bach: 8\n", source: "c.yaml")) { error in
            XCTAssertTrue("\(error)".contains("'global_batch'"), "\(error)")
        }
        var config = ResolvedConfig()
        XCTAssertThrowsError(try config.set("optimiser.lr=1")) { error in
            XCTAssertTrue("\(error)".contains("optimizer.lr"), "\(error)")
        }
    }

    func testWrongTypesAndChoicesAreClearErrors() {
        let cases: [(String, String)] = [
            ("steps: many\n", "steps should be an integer"),
            ("steps: 1.5\n", "steps should be an integer"),
            ("optimizer:\n  lr: fast\n", "optimizer.lr should be a number"),
            ("train:\n  lora: maybe\n", "train.lora should be true or false"),
            ("train:\n  mode: everything\n", "train.mode must be one of adapters, full"),
            ("optimizer: 3\n", "unknown key 'optimizer'"),
            ("steps: [1, 2]\n", "steps should be a single int value"),
            ("steps: \"10\"\n", "steps should be an integer"),
            ("a: [\n", "not valid YAML"),
        ]
        for (yaml, expected) in cases {
            XCTAssertThrowsError(try ResolvedConfig.parse(yaml: yaml, source: "c.yaml"), yaml) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(yaml.debugDescription): \(error)")
            }
        }
        XCTAssertThrowsError(try ResolvedConfig.load(file: "/nonexistent/config.yaml")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/config.yaml: config file not found"), "\(error)")
        }
    }
}

final class ConfigReferenceTests: XCTestCase {
    /// docs/config.md is generated from the schema; a field added without regenerating fails here.
    func testCommittedReferenceIsCurrent() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/config.md").standardized
        let committed = try String(contentsOf: file, encoding: .utf8)
        XCTAssertEqual(committed, ConfigReference.markdown,
                       "docs/config.md is out of date: regenerate it with `swift run discern config reference > docs/config.md`")
    }
}

final class MemoryConfigTests: XCTestCase {
    func testMemoryOptionsReadAndHalfWeightsRefusedWhenBaseWeightsTrain() throws {
        let lengths = (image: 5, text: 6)
        let plain = try RunSettings(try ResolvedConfig.parse(yaml: "steps: 2\n", source: "a.yaml"), softPromptLengths: lengths, worldSize: 1)
        XCTAssertFalse(plain.memory.halfWeights || plain.memory.recompute, "both off by default")
        let on = try RunSettings(try ResolvedConfig.parse(yaml: "memory:\n  half_weights: true\n  recompute: true\n", source: "b.yaml"),
                                 softPromptLengths: lengths, worldSize: 1)
        XCTAssertTrue(on.memory.halfWeights && on.memory.recompute)
        let full = try ResolvedConfig.parse(yaml: "train:\n  mode: full\nmemory:\n  half_weights: true\n", source: "c.yaml")
        XCTAssertThrowsError(try RunSettings(full, softPromptLengths: lengths, worldSize: 1)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("memory.half_weights") && message.contains("train.mode full"), message)
        }
    }
}
