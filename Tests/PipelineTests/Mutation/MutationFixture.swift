import Foundation
import TestSupport

/// The valid inputs every mutation starts from, made once with the real commands: a tiny model
/// (`init-model`), a synthetic data set with hard negatives (`synth`), a run configuration, a
/// checkpoint after one step (`train --stop-at 1`), a caption file and a JSONL manifest with images.
struct MutationFixture {
    let root: URL

    /// The run configuration as dotted keys; `MutationInputs.writeConfig` renders it as YAML.
    static let config: [String: String] = [
        "steps": "2", "global_batch": "4", "log_every": "1", "seed": "3",
        "checkpoint.every": "1", "checkpoint.keep": "2",
        "lora.rank": "4", "lora.alpha": "8",
        "loss.hard_negatives": "1",
        "optimizer.lr": "1.0e-3", "optimizer.warmup": "0.0",
    ]

    /// A Discern command's failure while building the fixture is the test's failure.
    static func make(in root: URL, discern: URL) throws -> MutationFixture {
        let fixture = MutationFixture(root: root)
        let inputs = fixture.inputs
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try run(discern, ["init-model", "--preset", "tiny", "--output", inputs.model.path])
        try run(discern, ["synth", "--output", inputs.data.path, "--train", "16", "--eval", "8", "--train-negatives",
                          "--samples-per-shard", "8", "--threads", "1"])
        try inputs.writeConfig(config)
        try run(discern, ["train", "--config", inputs.config.path, "--stop-at", "1"])
        let checkpoint = inputs.run.appendingPathComponent("step-00000001.h5")
        try FileManager.default.moveItem(at: checkpoint, to: inputs.checkpoint)
        try FileManager.default.removeItem(at: inputs.run)
        try "a red circle left of a blue square\nthree green triangles\n".write(to: inputs.texts, atomically: true, encoding: .utf8)
        try writeManifest(inputs)
        return fixture
    }

    var inputs: MutationInputs { MutationInputs(root: root.appendingPathComponent("inputs")) }

    /// A private copy of the inputs for one case, which its mutation may change at will.
    func copy(to folder: URL) throws -> MutationInputs {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let copy = MutationInputs(root: folder.appendingPathComponent("inputs"))
        try FileManager.default.copyItem(at: inputs.root, to: copy.root)
        // The configuration names the inputs by absolute path: point it at the copy.
        try copy.writeConfig(Self.config)
        return copy
    }

    /// Two images from the image tests (a PNG and a JPEG) and a manifest line for each.
    private static func writeManifest(_ inputs: MutationInputs) throws {
        let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../ImagesTests/Fixtures").standardized
        try FileManager.default.createDirectory(at: inputs.manifest.deletingLastPathComponent(), withIntermediateDirectories: true)
        for name in ["gray_64x48.png", "gray_48x40.jpg"] {
            try FileManager.default.copyItem(at: images.appendingPathComponent(name),
                                             to: inputs.manifest.deletingLastPathComponent().appendingPathComponent(name))
        }
        let lines = [
            #"{"image": "gray_64x48.png", "short": "a grey picture", "long": "A grey test picture.", "negatives": {"swap": "a picture grey"}}"#,
            #"{"image": "gray_48x40.jpg", "short": "a grey photo", "long": "A grey test photo."}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(to: inputs.manifest, atomically: true, encoding: .utf8)
    }

    private static func run(_ discern: URL, _ arguments: [String]) throws {
        let result = try runChild(discern, arguments, environment: childEnvironment, timeout: 300)
        guard result.status == 0, result.signal == nil, !result.timedOut else {
            throw SetupError(description: "making the mutation fixture: discern \(arguments.joined(separator: " ")) failed\n\(result.transcript)")
        }
    }
}

/// The paths of one set of inputs (the fixture's or a case's copy).
struct MutationInputs {
    let root: URL
    /// What `init-model`, `synth` and the fixture wrote.
    var model: URL { root.appendingPathComponent("model") }
    var data: URL { root.appendingPathComponent("data") }
    var config: URL { root.appendingPathComponent("run.yaml") }
    /// The run directory named in run.yaml (absent until a case trains).
    var run: URL { root.appendingPathComponent("run") }
    var checkpoint: URL { root.appendingPathComponent("checkpoint.h5") }
    /// Inputs of `embed` and `prepare`; `output` is where export, embed (+ ".h5") and prepare write.
    var texts: URL { root.appendingPathComponent("texts.txt") }
    var manifest: URL { root.appendingPathComponent("manifest/manifest.jsonl") }
    var image: URL { root.appendingPathComponent("manifest/gray_64x48.png") }
    var output: URL { root.appendingPathComponent("output") }
    var datasetJSON: URL { data.appendingPathComponent("dataset.json") }

    /// A shard of the data set: synth wrote two train shards and one eval shard.
    func shard(_ split: String, _ index: Int = 0) -> URL {
        data.appendingPathComponent("\(split)/shard-0000\(index).h5")
    }

    /// Renders dotted keys as two-level YAML, with the paths of these inputs first.
    func writeConfig(_ values: [String: String], extraLines: [String] = []) throws {
        var lines = ["model: \(model.path)", "data: \(data.path)", "run_dir: \(run.path)"]
        var sections: [String: [String]] = [:]
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 1 {
                lines.removeAll { $0.hasPrefix(key + ":") }
                lines.append("\(key): \(value)")
            } else {
                sections[parts[0], default: []].append("  \(parts[1]): \(value)")
            }
        }
        for (section, entries) in sections.sorted(by: { $0.key < $1.key }) { lines += ["\(section):"] + entries }
        try ((lines + extraLines).joined(separator: "\n") + "\n").write(to: config, atomically: true, encoding: .utf8)
    }
}
