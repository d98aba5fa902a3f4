import Configuration
import Foundation
import Models
import XCTest

/// The typed configuration reads the field table, all of it, once.
final class RunConfigurationTests: XCTestCase {
    func testEveryFieldIsReadExactlyOnceByTheTypedSections() {
        let reader = FieldReader(ResolvedConfig())
        _ = RunConfiguration(reader)
        _ = BenchConfiguration(reader)
        XCTAssertEqual(reader.paths.sorted(), ConfigSchema.fields.map(\.path).sorted())
        XCTAssertEqual(Set(reader.paths).count, reader.paths.count, "a field read twice")
    }

    /// The configuration's default LoRA targets are the model code's (one pattern for both families).
    func testDefaultLoRATargetsAreTheModelsDefault() {
        let field = ConfigSchema.fields.first { $0.path == "lora.target_modules" }
        XCTAssertEqual(field?.defaultValue, .string(LoRASettings.defaultTargets))
    }

    func testChoiceFieldsOfferExactlyTheirEnumsCases() {
        let choices = Dictionary(uniqueKeysWithValues: ConfigSchema.fields.map { ($0.path, $0.choices) })
        XCTAssertEqual(choices["image.mode"], RunConfiguration.ImageMode.allCases.map(\.rawValue))
        XCTAssertEqual(choices["train.mode"], RunConfiguration.TrainMode.allCases.map(\.rawValue))
        XCTAssertEqual(choices["loss.ntp_captions"], RunConfiguration.NTPCaptions.allCases.map(\.rawValue))
        XCTAssertEqual(choices["optimizer.schedule"], RunConfiguration.Schedule.allCases.map(\.rawValue))
        XCTAssertEqual(choices["bench.weights"], BenchConfiguration.Weights.allCases.map(\.rawValue))
        XCTAssertEqual(choices["bench.family"], BenchConfiguration.Family.allCases.map(\.rawValue))
    }

    func testSectionsCarryTheFileAndTheOverrides() throws {
        var resolved = try ResolvedConfig.parse(yaml: """
        model: m
        steps: 50
        image:
          mode: pad
        train:
          mode: full
        lora:
          rank: 4
          alpha: 8
        optimizer:
          schedule: linear
          warmup: 10
        bench:
          weights: bfloat16
        """, source: "test.yaml")
        try resolved.set("loss.ntp_captions=both")
        try resolved.set(.runDirectory, text: "runs/x")
        let run = RunConfiguration(resolved), bench = BenchConfiguration(resolved)
        XCTAssertEqual(run.model, "m")
        XCTAssertEqual(run.runDir, "runs/x")
        XCTAssertEqual(run.steps, 50)
        XCTAssertEqual(run.imageMode, .padToSquare)
        XCTAssertEqual(run.train.mode, .full)
        XCTAssertFalse(run.train.trainsLoRA, "full training trains the base, not LoRA")
        XCTAssertEqual([run.lora.rank, Int(run.lora.alpha)], [4, 8])
        XCTAssertEqual(run.loss.ntpCaptions, .both)
        XCTAssertEqual(run.optimizer.schedule, .linear)
        XCTAssertEqual(run.warmupSteps, 10)
        XCTAssertEqual(bench.weights, .bfloat16)
        XCTAssertEqual(run.yaml, resolved.yaml, "checkpoints store the text the configuration was decoded from")
    }

    func testResumeComparisonNamesConflictsAndChanges() throws {
        let stored = try ResolvedConfig.parse(yaml: "lora:\n  rank: 4\noptimizer:\n  lr: 1e-4\n", source: "stored")
        var now = stored
        try now.set("lora.rank=8")
        try now.set("optimizer.lr=2e-4")
        try now.set(.data, text: "elsewhere")
        XCTAssertEqual(now.resumeConflicts(with: stored), ["lora.rank: checkpoint 4, now 8"])
        XCTAssertEqual(now.resumeChanges(from: stored), ["lora.rank 4 -> 8", "optimizer.lr 0.0001 -> 0.0002"])
    }

    /// A checkpoint written before loss.mask_duplicates existed trained without masking: resuming
    /// it with today's default (on) is a conflict that names the key, and setting it false resumes.
    func testCheckpointsFromBeforeDuplicateMaskingResumeOnlyUnmasked() throws {
        let old = try ResolvedConfig.parseStored(yaml: "loss:\n  ntp: 0.5\n", source: "old checkpoint")
        var now = try ResolvedConfig.parse(yaml: "loss:\n  ntp: 0.5\n", source: "config")
        XCTAssertEqual(now.resumeConflicts(with: old), ["loss.mask_duplicates: checkpoint false, now true"])
        try now.set("loss.mask_duplicates=false")
        XCTAssertEqual(now.resumeConflicts(with: old), [])
        // A checkpoint that records the key keeps its value.
        let new = try ResolvedConfig.parseStored(yaml: "loss:\n  mask_duplicates: true\n", source: "new checkpoint")
        XCTAssertEqual(try ResolvedConfig.parse(yaml: "", source: "config").resumeConflicts(with: new), [])
    }
}
