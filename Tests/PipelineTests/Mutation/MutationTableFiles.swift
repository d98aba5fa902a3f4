import Foundation
import HDF5Files

/// The rows for data sets, manifests and checkpoints (MutationTable holds the rest).
extension MutationTable {
    static func datasetJSON(_ change: @escaping (inout [String: Any]) -> Void) -> (MutationInputs) throws -> Void {
        { inputs in
            var root = try JSONSerialization.jsonObject(with: Data(contentsOf: inputs.datasetJSON)) as! [String: Any]
            change(&root)
            try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]).write(to: inputs.datasetJSON)
        }
    }

    /// Edits the train split's entry of dataset.json.
    static func trainSplit(_ change: @escaping (inout [String: Any]) -> Void) -> (MutationInputs) throws -> Void {
        datasetJSON { root in
            var splits = root["splits"] as! [String: Any], train = splits["train"] as! [String: Any]
            change(&train)
            splits["train"] = train
            root["splits"] = splits
        }
    }

    static var data: [MutationCase] {
        [
            MutationCase(name: "shard has_short all 0", command: .train, expect: .refused()) {
                for index in 0...1 { try Mutate.hdf5Fill($0.shard("train", index), "has_short", UInt8(0)) }
            },
            MutationCase(name: "shard truncated", command: .train, expect: .refused(mentioning: "shard-00000")) {
                try Mutate.truncate($0.shard("train"), keeping: 0.5)
            },
        ] + shardDamage + [
            MutationCase(name: "dataset.json shard listed twice", command: .train, expect: .refused(mentioning: "shard-00000")) {
                try trainSplit { split in
                    var shards = split["shards"] as! [[String: Any]]
                    shards.append(shards[0])
                    split["shards"] = shards
                    split["count"] = shards.reduce(0) { $0 + ($1["count"] as! Int) }
                }($0)
            },
            MutationCase(name: "dataset.json shard count above the shard's", command: .train, expect: .refused(mentioning: "dataset.json")) {
                try trainSplit { split in
                    var shards = split["shards"] as! [[String: Any]]
                    shards[0]["count"] = (shards[0]["count"] as! Int) + 5
                    split["shards"] = shards
                    split["count"] = (split["count"] as! Int) + 5
                }($0)
            },
            MutationCase(name: "dataset.json missing shard file", command: .train, expect: .refused(mentioning: "shard-00001")) {
                try FileManager.default.removeItem(at: $0.shard("train", 1))
            },
            MutationCase(name: "dataset.json duplicate key", command: .train, expect: .refused(mentioning: "dataset.json")) {
                try Mutate.duplicateKey($0.datasetJSON, "image_size", "64")
            },
            MutationCase(name: "dataset.json trailing comma", command: .train, expect: .refused(mentioning: "dataset.json")) {
                try Mutate.trailingComma($0.datasetJSON)
            },
            MutationCase(name: "dataset.json image_size 0", command: .train, expect: .refused(mentioning: "image_size")) {
                try datasetJSON { $0["image_size"] = 0 }($0)
            },
            MutationCase(name: "shards without the hard negatives the run needs", command: .train, expect: .refused(mentioning: "negative")) {
                try yaml("loss.hard_negatives", "4")($0)
            },
        ]
    }

    static func manifestLine(_ name: String, _ line: String, pending: String? = nil) -> MutationCase {
        MutationCase(name: "manifest \(name) (--strict)", command: .prepare, expect: .refused(mentioning: "line"), pending: pending) {
            let text = try String(contentsOf: $0.manifest, encoding: .utf8)
            try (text + line + "\n").write(to: $0.manifest, atomically: true, encoding: .utf8)
        }
    }

    static var manifest: [MutationCase] {
        [
            manifestLine("duplicate key", #"{"image": "gray_64x48.png", "short": "one", "short": "two"}"#),
            manifestLine("trailing comma", #"{"image": "gray_64x48.png", "short": "one",}"#),
            // Refused with a clear message naming the line, but the output folder is left behind.
            manifestLine("not JSON", #"{"image": "gray_64x48.png", "short": "#),
            manifestLine("missing image", #"{"image": "absent.png", "short": "one"}"#),
            manifestLine("caption a number", #"{"image": "gray_64x48.png", "short": 3}"#),
            MutationCase(name: "manifest image truncated (--strict)", command: .prepare, expect: .refused(mentioning: "line")) {
                try Mutate.truncate($0.image, keeping: 0.5)
            },
        ]
    }

    static func checkpointTensor(_ fragment: String, _ group: String,
                                 _ change: @escaping ([Float], [Int]) -> ([Float], [Int])) -> (MutationInputs) throws -> Void {
        { inputs in
            let name = try Mutate.checkpointTensor(inputs.checkpoint, containing: fragment)
            try Mutate.hdf5Rewrite(inputs.checkpoint) { path, values, shape in
                path == "\(group)/\(name)" ? change(values, shape) : nil
            }
            try Mutate.resealCheckpoint(inputs.checkpoint)
        }
    }

    static var checkpoints: [MutationCase] {
        [
            MutationCase(name: "checkpoint first_moment of one element", command: .resume, expect: .refused(mentioning: "first_moment"),
                         mutate: checkpointTensor("lora_A", "/optimizer/first_moment") { values, _ in ([values[0]], [1]) }),
            MutationCase(name: "checkpoint second_moment negative", command: .resume, expect: .refused(mentioning: "second_moment"),
                         mutate: checkpointTensor("lora_A", "/optimizer/second_moment") { values, shape in (values.map { _ in -1 }, shape) }),
            MutationCase(name: "checkpoint first_moment NaN", command: .resume, expect: .refused(mentioning: "first_moment"),
                         mutate: checkpointTensor("lora_B", "/optimizer/first_moment") { values, shape in ([.nan] + values.dropFirst(), shape) }),
            MutationCase(name: "checkpoint step -1", command: .resume, expect: .refused(mentioning: "step")) {
                try Mutate.hdf5Attribute($0.checkpoint, "step", .int64(-1))
                try Mutate.resealCheckpoint($0.checkpoint)
            },
            MutationCase(name: "checkpoint truncated", command: .resume, expect: .refused(mentioning: "checkpoint")) {
                try Mutate.truncate($0.checkpoint, keeping: 0.5)
            },
        ] + checkpointDamage + [
            MutationCase(name: "checkpoint lora_A NaN", command: .export, expect: .refused(mentioning: "lora_A"),
                         mutate: checkpointTensor("lora_A", "/parameters") { values, shape in ([.nan] + values.dropFirst(), shape) }),
            MutationCase(name: "checkpoint lora_A transposed", command: .export, expect: .refused(mentioning: "lora_A"),
                         mutate: checkpointTensor("lora_A", "/parameters") { values, shape in (values, shape.reversed()) }),
            MutationCase(name: "checkpoint lora_A short", command: .export, expect: .refused(mentioning: "lora_A"),
                         mutate: checkpointTensor("lora_A", "/parameters") { values, shape in (Array(values.prefix(shape[1])), [1, shape[1]]) }),
            MutationCase(name: "checkpoint lora_A short (embed)", command: .embedCheckpoint, expect: .refused(mentioning: "lora_A"),
                         mutate: checkpointTensor("lora_A", "/parameters") { values, shape in (Array(values.prefix(shape[1])), [1, shape[1]]) }),
            MutationCase(name: "checkpoint parameter_names duplicated", command: .export, expect: .refused(mentioning: "parameter_names")) {
                let h5 = try H5File.open($0.checkpoint.path, mode: .readOnly)
                let names = try h5.stringAttribute("parameter_names")
                try h5.close()
                try Mutate.hdf5Attribute($0.checkpoint, "parameter_names", .string(names + "\n" + names.split(separator: "\n")[0]))
                try Mutate.resealCheckpoint($0.checkpoint)
            },
            MutationCase(name: "checkpoint parameter_names empty", command: .export, expect: .refused(mentioning: "parameter_names")) {
                try Mutate.hdf5Attribute($0.checkpoint, "parameter_names", .string(""))
                try Mutate.resealCheckpoint($0.checkpoint)
            },
            MutationCase(name: "checkpoint config lora.rank disagrees with tensors", command: .export, expect: .refused(mentioning: "rank")) {
                let h5 = try H5File.open($0.checkpoint.path, mode: .readOnly)
                let yaml = try h5.readStrings("/config").values[0]
                try h5.close()
                guard yaml.contains("rank: 4") else { throw MutationError("stored config has no 'rank: 4'") }
                let changed = yaml.replacingOccurrences(of: "rank: 4", with: "rank: 2")
                try Mutate.hdf5Rewrite($0.checkpoint, strings: { path, _ in path == "/config" ? [changed] : nil }) { _, _, _ in nil }
                try Mutate.resealCheckpoint($0.checkpoint)
            },
        ]
    }

    /// One row per seed: `damage` gets the case's inputs and the seed.
    static func seeded(_ seeds: ClosedRange<UInt64>, _ name: String, _ command: MutationCommand, mentioning: String,
                       pending: @escaping (UInt64) -> String? = { _ in nil },
                       _ damage: @escaping (MutationInputs, UInt64) throws -> Void) -> [MutationCase] {
        seeds.map { seed in
            MutationCase(name: "\(name) (seed \(seed))", command: command, expect: .refused(mentioning: mentioning),
                         pending: pending(seed)) { try damage($0, seed) }
        }
    }

    /// Bit flips in a shard change pixels or captions only a checksum can catch; a zeroed page
    /// has been refused for every seed tried.
    static var shardDamage: [MutationCase] {
        let flips = seeded(11...13, "shard bit flip", .train, mentioning: "shard-00000") {
            try Mutate.flipBit($0.shard("train"), seed: $1)
        }
        let pages = seeded(11...14, "shard page zeroed", .train, mentioning: "shard-00000") { try Mutate.zeroPage($0.shard("train"), seed: $1) }
        let evalPages = seeded(11...12, "eval shard page zeroed", .eval, mentioning: "shard-00000") {
            try Mutate.zeroPage($0.shard("eval"), seed: $1)
        }
        return flips + pages + evalPages
    }

    /// Bit flip seed 23 and page seed 21 are refused today (libhdf5 notices); the others change
    /// only tensor values, which a checksum must catch.
    static var checkpointDamage: [MutationCase] {
        let flips = seeded(21...23, "checkpoint bit flip", .export, mentioning: "checkpoint") { try Mutate.flipBit($0.checkpoint, seed: $1) }
        let pages = seeded(21...23, "checkpoint page zeroed", .embedCheckpoint, mentioning: "checkpoint") { try Mutate.zeroPage($0.checkpoint, seed: $1) }
        return flips + pages
    }
}
