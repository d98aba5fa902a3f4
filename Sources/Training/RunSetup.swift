import Foundation
import Kernels
import Models

/// The pieces of a run that the configuration determines, independent of files and MPI.
public struct RunSettings: Sendable {
    public var trainable: TrainableSet
    public var step: StepSettings
    public var templates: PromptTemplates
    public var schedule: LearningRateSchedule
    public var steps: Int
    public var globalBatch: Int
    public var seed: UInt64
    public var initialLogitScale: Double
    public var memory: ModelMemoryOptions

    /// Reads and checks the configuration; `softPromptLengths` come from the prompt templates
    /// as the tokenizer splits them (PromptBuilder).
    public init(_ config: ResolvedConfig, softPromptLengths: (image: Int, text: Int), worldSize: Int) throws {
        func positive(_ path: String) throws -> Int {
            let value = config.int(path)
            guard value > 0 else { throw ConfigError("\(path) must be positive, got \(value).") }
            return value
        }
        steps = try positive("steps")
        globalBatch = try positive("global_batch")
        guard globalBatch % worldSize == 0 else {
            throw ConfigError("global_batch \(globalBatch) does not divide by the \(worldSize) ranks; use a multiple of \(worldSize).")
        }
        let microBatch = config.int("micro_batch")
        let hardNegatives = config.int("loss.hard_negatives")
        guard hardNegatives >= 0 && hardNegatives <= 16 else {
            throw ConfigError("loss.hard_negatives must be 0 (none) to 16 negatives per pair, got \(hardNegatives).")
        }
        guard microBatch >= 0 else { throw ConfigError("micro_batch must be 0 (whole local batch) or positive, got \(microBatch).") }
        seed = UInt64(bitPattern: Int64(config.int("seed")))
        let full = config.string("train.mode") == "full"
        let soft = config.bool("train.soft_prompts") && !full
        let useLoRA = config.bool("train.lora") && !full
        let contrastive = config.double("loss.contrastive"), ntp = config.double("loss.ntp")
        guard contrastive >= 0, ntp >= 0, contrastive + ntp > 0 else {
            throw ConfigError("loss.contrastive (\(contrastive)) and loss.ntp (\(ntp)) must be non-negative and not both 0.")
        }
        let learnScale = config.bool("loss.learn_logit_scale") && contrastive > 0
        var lora: LoRASettings?
        if useLoRA {
            lora = LoRASettings(rank: config.int("lora.rank"), alpha: config.double("lora.alpha"), dropout: config.double("lora.dropout"),
                                targetPattern: config.string("lora.target_modules"))
            let dropout = config.double("lora.dropout")
            guard dropout >= 0 && dropout < 1 else { throw ConfigError("lora.dropout must be in [0, 1), got \(dropout).") }
        }
        trainable = TrainableSet(fullModel: full, lora: lora, imageSoftPromptLength: soft ? softPromptLengths.image : nil,
                                 textSoftPromptLength: soft ? softPromptLengths.text : nil, logitScale: learnScale)
        if !full && !soft && !useLoRA && !learnScale {
            throw ConfigError("nothing to train: train.mode is adapters but train.soft_prompts and train.lora are both false.")
        }
        step = StepSettings(contrastiveWeight: contrastive, ntpWeight: ntp,
                            ntpCaptions: StepSettings.GenerativeCaptions(rawValue: config.string("loss.ntp_captions"))!,
                            hardNegatives: contrastive > 0 ? hardNegatives : 0, softPrompts: soft, fixedLogitScale: config.double("loss.logit_scale"), microBatch: microBatch,
                            dropoutSeed: seed)
        templates = PromptTemplates(image: config.string("prompts.image"), text: config.string("prompts.text"))
        let warmup = config.double("optimizer.warmup")
        let warmupSteps = warmup < 1 ? Int((warmup * Double(steps)).rounded()) : Int(warmup)
        schedule = LearningRateSchedule(peak: config.double("optimizer.lr"), warmupSteps: warmupSteps, totalSteps: steps,
                                        shape: LearningRateSchedule.Shape(rawValue: config.string("optimizer.schedule"))!,
                                        minRatio: config.double("optimizer.min_lr_ratio"))
        initialLogitScale = config.double("loss.logit_scale")
        memory = ModelMemoryOptions(halfWeights: config.bool("memory.half_weights"), recompute: config.bool("memory.recompute"))
        if memory.halfWeights && full {
            throw ConfigError("memory.half_weights keeps the frozen base weights in 16-bit storage, but train.mode full trains every base weight; set memory.half_weights: false (or train.mode: adapters).")
        }
    }
}
