import Images

/// The run configuration as types: one struct per YAML section, decoded once from a resolved
/// configuration (parsed, every value checked against its field). Outside this module nothing
/// looks a key up by its string.
package struct RunConfiguration: Sendable {
    /// `crop` or `pad`: the images module's own preprocessing mode.
    package typealias ImageMode = ImagePreprocessingConfig.Mode
    package enum TrainMode: String, CaseIterable, Sendable { case adapters, full }
    package enum NTPCaptions: String, CaseIterable, Sendable { case long, short, both }
    package enum Schedule: String, CaseIterable, Sendable { case cosine, constant, linear }

    package struct Prompts: Sendable, Equatable {
        package let image: String, text: String
    }
    package struct Train: Sendable, Equatable {
        package let mode: TrainMode, softPrompts: Bool, lora: Bool
        /// LoRA adapters train (full training trains the base weights instead).
        package var trainsLoRA: Bool { lora && mode != .full }
        package var trainsSoftPrompts: Bool { softPrompts && mode != .full }
    }
    package struct LoRA: Sendable, Equatable {
        package let rank: Int, alpha: Double, dropout: Double, targetModules: String
    }
    package struct Loss: Sendable, Equatable {
        package let contrastive: Double, ntp: Double, ntpCaptions: NTPCaptions, hardNegatives: Int, maskDuplicates: Bool
        package let logitScale: Double, learnLogitScale: Bool, maxLogitScale: Double
    }
    package struct Optimizer: Sendable, Equatable {
        package let lr: Double, weightDecay: Double, beta1: Double, beta2: Double, eps: Double
        /// A fraction of the steps below 1, else a number of steps.
        package let warmup: Double
        package let schedule: Schedule, minLRRatio: Double, gradClip: Double
    }
    package struct Memory: Sendable, Equatable {
        package let halfWeights: Bool, recompute: Bool, compute: ComputeSetting
    }
    /// `memory.compute`: a precision, or `auto` (bf16 where the CPU has native bf16 dot products).
    package enum ComputeSetting: String, CaseIterable, Sendable { case fp32, bf16, auto }
    package struct Checkpoint: Sendable, Equatable {
        package let every: Int, keep: Int
    }
    package struct Distributed: Sendable, Equatable {
        /// Seconds a rank may wait in one collective; 0 = forever.
        package let timeout: Double
    }

    package let model: String, data: String, runDir: String
    package let seed: Int, steps: Int, globalBatch: Int, microBatch: Int, threads: Int, logEvery: Int
    package let prompts: Prompts
    package let imageMode: ImageMode
    package let train: Train
    package let lora: LoRA
    package let loss: Loss
    package let optimizer: Optimizer
    package let memory: Memory
    package let checkpoint: Checkpoint
    package let distributed: Distributed
    /// What it was decoded from: its `yaml` is the text checkpoints store and `config show` prints.
    package let resolved: ResolvedConfig

    package init(_ resolved: ResolvedConfig) {
        self.init(FieldReader(resolved))
    }

    package init(_ r: FieldReader) {
        resolved = r.config
        (model, data, runDir) = (r.path("model"), r.path("data"), r.path("run_dir"))
        (seed, steps, globalBatch) = (r.int("seed"), r.int("steps"), r.int("global_batch"))
        (microBatch, threads, logEvery) = (r.int("micro_batch"), r.int("threads"), r.int("log_every"))
        prompts = Prompts(image: r.string("prompts.image"), text: r.string("prompts.text"))
        imageMode = r.choice("image.mode")
        train = Train(mode: r.choice("train.mode"), softPrompts: r.bool("train.soft_prompts"), lora: r.bool("train.lora"))
        lora = LoRA(rank: r.int("lora.rank"), alpha: r.double("lora.alpha"), dropout: r.double("lora.dropout"),
                    targetModules: r.string("lora.target_modules"))
        loss = Loss(contrastive: r.double("loss.contrastive"), ntp: r.double("loss.ntp"), ntpCaptions: r.choice("loss.ntp_captions"),
                    hardNegatives: r.int("loss.hard_negatives"), maskDuplicates: r.bool("loss.mask_duplicates"),
                    logitScale: r.double("loss.logit_scale"),
                    learnLogitScale: r.bool("loss.learn_logit_scale"), maxLogitScale: r.double("loss.max_logit_scale"))
        optimizer = Optimizer(lr: r.double("optimizer.lr"), weightDecay: r.double("optimizer.weight_decay"), beta1: r.double("optimizer.beta1"),
                              beta2: r.double("optimizer.beta2"), eps: r.double("optimizer.eps"), warmup: r.double("optimizer.warmup"),
                              schedule: r.choice("optimizer.schedule"), minLRRatio: r.double("optimizer.min_lr_ratio"),
                              gradClip: r.double("optimizer.grad_clip"))
        memory = Memory(halfWeights: r.bool("memory.half_weights"), recompute: r.bool("memory.recompute"), compute: r.choice("memory.compute"))
        checkpoint = Checkpoint(every: r.int("checkpoint.every"), keep: r.int("checkpoint.keep"))
        distributed = Distributed(timeout: r.double("distributed.timeout"))
    }

    /// The whole-configuration rules (ranges again, and the rules that relate two keys).
    package func checkRules() throws { try resolved.checkRules() }

    /// Warmup in steps (checkRules bounds the value, so the conversion cannot trap).
    package var warmupSteps: Int { resolved.warmupSteps }

    /// The YAML checkpoints store: every field, in table order.
    package var yaml: String { resolved.yaml }
}

/// `discern bench`'s own section.
package struct BenchConfiguration: Sendable {
    package enum Family: String, CaseIterable, Sendable {
        case llava
        case qwen2VL = "qwen2_vl"
    }
    package enum Weights: String, CaseIterable, Sendable { case memory, float16, bfloat16 }

    package let family: Family, weights: Weights, modelDir: String, warmup: Int
    package let imageSize: Int, patchSize: Int, mergeSize: Int, temporalPatchSize: Int
    package let visionHidden: Int, visionIntermediate: Int, visionLayers: Int, visionHeads: Int
    package let textHidden: Int, textIntermediate: Int, textLayers: Int, textHeads: Int, textKeyValueHeads: Int
    package let tieWordEmbeddings: Bool
    package let vocabularySize: Int, maxPositions: Int, captionTokens: Int, promptTokens: Int

    package init(_ resolved: ResolvedConfig) {
        self.init(FieldReader(resolved))
    }

    package init(_ r: FieldReader) {
        family = r.choice("bench.family")
        (weights, modelDir, warmup) = (r.choice("bench.weights"), r.path("bench.model_dir"), r.int("bench.warmup"))
        (imageSize, patchSize) = (r.int("bench.image_size"), r.int("bench.patch_size"))
        (mergeSize, temporalPatchSize) = (r.int("bench.merge_size"), r.int("bench.temporal_patch_size"))
        (visionHidden, visionIntermediate) = (r.int("bench.vision_hidden"), r.int("bench.vision_intermediate"))
        (visionLayers, visionHeads) = (r.int("bench.vision_layers"), r.int("bench.vision_heads"))
        (textHidden, textIntermediate, textLayers) = (r.int("bench.text_hidden"), r.int("bench.text_intermediate"), r.int("bench.text_layers"))
        (textHeads, textKeyValueHeads) = (r.int("bench.text_heads"), r.int("bench.text_kv_heads"))
        tieWordEmbeddings = r.bool("bench.tie_word_embeddings")
        (vocabularySize, maxPositions) = (r.int("bench.vocab_size"), r.int("bench.max_positions"))
        (captionTokens, promptTokens) = (r.int("bench.caption_tokens"), r.int("bench.prompt_tokens"))
    }
}

/// Reads fields of a resolved configuration by path, for the typed sections above, and notes
/// every path it read (a test checks that each field of the table is read exactly once).
package final class FieldReader {
    package let config: ResolvedConfig
    package private(set) var paths: [String] = []

    package init(_ config: ResolvedConfig) { self.config = config }

    func int(_ path: String) -> Int { paths.append(path); return config.int(path) }
    func double(_ path: String) -> Double { paths.append(path); return config.double(path) }
    func bool(_ path: String) -> Bool { paths.append(path); return config.bool(path) }
    func string(_ path: String) -> String { paths.append(path); return config.string(path) }
    func path(_ path: String) -> String { string(path) }

    /// A string field with choices, as its enum. Every way a value gets in checks the choices
    /// (the field table holds the enum's cases), so a miss is a programming error.
    func choice<Choice: RawRepresentable>(_ path: String) -> Choice where Choice.RawValue == String {
        let text = string(path)
        guard let value = Choice(rawValue: text) else { preconditionFailure("\(path): '\(text)' is not one of its choices") }
        return value
    }
}

extension RunConfiguration {
    /// The configuration a checkpoint stores (its `/config` text), read as strictly as a file.
    package init(checkpointYAML yaml: String, checkpoint path: String) throws {
        self.init(try ResolvedConfig.parse(yaml: yaml, source: "\(path):/config"))
    }
}
