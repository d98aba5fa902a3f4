import Configuration
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
        try config.checkRules(worldSize: worldSize)
        steps = config.int("steps")
        globalBatch = config.int("global_batch")
        let microBatch = config.int("micro_batch")
        let hardNegatives = config.int("loss.hard_negatives")
        seed = UInt64(bitPattern: Int64(config.int("seed")))
        let full = config.string("train.mode") == "full"
        let soft = config.bool("train.soft_prompts") && !full
        let useLoRA = config.bool("train.lora") && !full
        let contrastive = config.double("loss.contrastive"), ntp = config.double("loss.ntp")
        let learnScale = config.bool("loss.learn_logit_scale") && contrastive > 0
        var lora: LoRASettings?
        if useLoRA {
            lora = LoRASettings(rank: config.int("lora.rank"), alpha: config.double("lora.alpha"), dropout: config.double("lora.dropout"),
                                targetPattern: config.string("lora.target_modules"))
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
        schedule = LearningRateSchedule(peak: config.double("optimizer.lr"), warmupSteps: config.warmupSteps, totalSteps: steps,
                                        shape: LearningRateSchedule.Shape(rawValue: config.string("optimizer.schedule"))!,
                                        minRatio: config.double("optimizer.min_lr_ratio"))
        initialLogitScale = config.double("loss.logit_scale")
        memory = ModelMemoryOptions(halfWeights: config.bool("memory.half_weights"), recompute: config.bool("memory.recompute"))
        if memory.halfWeights && full {
            throw ConfigError("memory.half_weights keeps the frozen base weights in 16-bit storage, but train.mode full trains every base weight; set memory.half_weights: false (or train.mode: adapters).")
        }
    }
}
