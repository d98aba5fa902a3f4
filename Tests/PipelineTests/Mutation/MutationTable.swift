import Foundation
import HDF5Files

/// Every mutation the suite drives through the commands. One row per case: command, mutation,
/// expectation, and a `pending:` flag for a known bug not yet fixed (none today; docs/fuzzing.md
/// has the counts before and after issue 14's fixes).
enum MutationTable {
    static var all: [MutationCase] { controls + modelFiles + runConfig + data + manifest + checkpoints }

    /// The unmutated inputs run cleanly: without these, a broken command line would make every
    /// mutated case look like a clean refusal.
    static var controls: [MutationCase] {
        [
            MutationCommand.train, .resume, .embed, .embedCheckpoint, .export, .eval, .prepare,
        ].map { command in MutationCase(name: "control: \(command.rawValue)", command: command, expect: .success) { _ in } }
    }

    static func config(_ keys: String, _ value: Any) -> (MutationInputs) throws -> Void {
        { try Mutate.json($0.model.appendingPathComponent("config.json"), keys.split(separator: ".").map(String.init), value) }
    }

    static var modelFiles: [MutationCase] {
        [
            MutationCase(name: "config.json vision patch_size 0", command: .embed, expect: .refused(mentioning: "patch_size"),
                         mutate: config("vision_config.patch_size", 0)),
            MutationCase(name: "config.json num_key_value_heads 0", command: .embed, expect: .refused(mentioning: "num_key_value_heads"),
                         mutate: config("text_config.num_key_value_heads", 0)),
            MutationCase(name: "config.json num_hidden_layers -1", command: .embed, expect: .refused(mentioning: "num_hidden_layers"),
                         mutate: config("text_config.num_hidden_layers", -1)),
            MutationCase(name: "config.json num_hidden_layers 2^40", command: .embed, expect: .refused(mentioning: "num_hidden_layers"),
                         mutate: config("text_config.num_hidden_layers", 1 << 40)),
            MutationCase(name: "config.json max_position_embeddings 0", command: .embed,
                         expect: .refused(mentioning: "max_position_embeddings"), mutate: config("text_config.max_position_embeddings", 0)),
            MutationCase(name: "config.json rope_theta -1", command: .embed, expect: .refused(mentioning: "rope_theta")) {
                try config("text_config.rope_theta", -1)($0)
                try config("text_config.rope_parameters.rope_theta", -1)($0)
            },
            MutationCase(name: "config.json rms_norm_eps -1", command: .embed, expect: .refused(mentioning: "rms_norm_eps"),
                         mutate: config("text_config.rms_norm_eps", -1)),
            MutationCase(name: "config.json image_token_index 2^33", command: .embed, expect: .refused(mentioning: "image_token_index"),
                         mutate: config("image_token_index", 1 << 33)),
            MutationCase(name: "config.json rms_norm_eps NaN", command: .embed, expect: .refused()) {
                try Mutate.rawJSON($0.model.appendingPathComponent("config.json"), ["text_config", "rms_norm_eps"], "NaN")
            },
            MutationCase(name: "config.json duplicate key", command: .embed, expect: .refused(mentioning: "image_token_index")) {
                try Mutate.duplicateKey($0.model.appendingPathComponent("config.json"), "image_token_index", "1")
            },
            MutationCase(name: "config.json truncated", command: .embed, expect: .refused(mentioning: "config.json")) {
                try Mutate.truncate($0.model.appendingPathComponent("config.json"), keeping: 0.5)
            },
            MutationCase(name: "tokenizer.json added token id >= vocab_size", command: .embed, expect: .refused()) {
                try setAddedTokenID($0.model.appendingPathComponent("tokenizer.json"), content: "<image>", id: 1_000_000)
            },
            MutationCase(name: "tokenizer.json truncated", command: .embed, expect: .refused(mentioning: "tokenizer.json")) {
                try Mutate.truncate($0.model.appendingPathComponent("tokenizer.json"), keeping: 0.7)
            },
            MutationCase(name: "tokenizer.json duplicate key", command: .embed, expect: .refused()) {
                try Mutate.duplicateKey($0.model.appendingPathComponent("tokenizer.json"), "version", "\"0.0\"")
            },
            MutationCase(name: "model.safetensors truncated", command: .embed, expect: .refused(mentioning: "safetensors")) {
                try Mutate.truncate($0.model.appendingPathComponent("model.safetensors"), keeping: 0.6)
            },
            MutationCase(name: "model.safetensors page zeroed", command: .embed, expect: .refused(mentioning: "safetensors")) {
                // The first page holds the 8-byte length and the JSON header.
                var bytes = try Data(contentsOf: $0.model.appendingPathComponent("model.safetensors"))
                bytes.replaceSubrange(8..<4096, with: Data(count: 4088))
                try bytes.write(to: $0.model.appendingPathComponent("model.safetensors"))
            },
        ]
    }

    private static func setAddedTokenID(_ file: URL, content: String, id: Int) throws {
        var root = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
        var added = root["added_tokens"] as! [[String: Any]]
        guard let index = added.firstIndex(where: { $0["content"] as? String == content }) else {
            throw MutationError("no added token '\(content)' in \(file.path)")
        }
        added[index]["id"] = id
        root["added_tokens"] = added
        try JSONSerialization.data(withJSONObject: root).write(to: file)
    }

    static func yaml(_ key: String, _ value: String) -> (MutationInputs) throws -> Void {
        { inputs in
            var values = MutationFixture.config
            values[key] = value
            try inputs.writeConfig(values)
        }
    }

    static func refusedYAML(_ key: String, _ value: String, pending: String? = nil) -> MutationCase {
        MutationCase(name: "run.yaml \(key): \(value)", command: .train, expect: .refused(mentioning: key), pending: pending,
                     mutate: yaml(key, value))
    }

    static var runConfig: [MutationCase] {
        [
            refusedYAML("optimizer.lr", "-1.0"),
            refusedYAML("optimizer.eps", "-1.0e-8"),
            refusedYAML("optimizer.weight_decay", "-0.1"),
            refusedYAML("optimizer.grad_clip", "-1.0"),
            refusedYAML("optimizer.beta1", "1.5"),
            refusedYAML("optimizer.beta1", "1.0"),
            refusedYAML("optimizer.beta2", "-0.5"),
            refusedYAML("checkpoint.keep", "0"),
            refusedYAML("checkpoint.every", "-1"),
            refusedYAML("lora.alpha", "1.0e30"),
            refusedYAML("optimizer.warmup", "1.0e30"),
            refusedYAML("lora.rank", "0"),
            refusedYAML("lora.dropout", ".nan"),
            refusedYAML("global_batch", "0"),
            refusedYAML("steps", "-1"),
            refusedYAML("loss.hard_negatives", "17"),
            // YAML null for a path (`null`, not `~`: today `~` also writes into the passwd home directory,
            // which the case's HOME and working directory cannot fence off).
            refusedYAML("run_dir", "null"),
            MutationCase(name: "run.yaml duplicate key", command: .train, expect: .refused(mentioning: "steps")) {
                try $0.writeConfig(MutationFixture.config, extraLines: ["steps: 3"])
            },
            MutationCase(name: "run.yaml not a mapping", command: .train, expect: .refused(mentioning: "run.yaml")) {
                try "- a\n- b\n".write(to: $0.config, atomically: true, encoding: .utf8)
            },
        ]
    }
}
