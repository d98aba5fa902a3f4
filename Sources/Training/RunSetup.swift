import Configuration
import Foundation
import Kernels
import Layers
import Models

/// The pieces of a run that the configuration determines, independent of files and MPI.
package struct RunSettings: Sendable {
    package var trainable: TrainableSet
    package var step: StepSettings
    package var templates: PromptTemplates
    package var schedule: LearningRateSchedule
    package var steps: Int
    /// The global batch and this world's split of it.
    package var batch: BatchSplit
    package var globalBatch: Int { batch.global }
    package var seed: UInt64
    package var initialLogitScale: Double
    package var memory: ModelMemoryOptions
    /// Why `memory.compute` is what it is on this CPU (printed at start).
    package var compute: ComputeChoice

    /// Checks the configuration and derives the run's pieces; `softPromptLengths` come from the
    /// prompt templates as the tokenizer splits them (PromptBuilder).
    package init(_ config: RunConfiguration, softPromptLengths: (image: Int, text: Int), worldSize: Int) throws {
        try config.checkRules()
        batch = try BatchSplit(global: config.globalBatch, ranks: worldSize)
        steps = config.steps
        seed = UInt64(bitPattern: Int64(config.seed))
        let full = config.train.mode == .full, soft = config.train.trainsSoftPrompts
        let loss = config.loss
        let learnScale = loss.learnLogitScale && loss.contrastive > 0
        let lora = config.train.trainsLoRA ? LoRASettings(config.lora) : nil
        trainable = TrainableSet(fullModel: full, lora: lora, imageSoftPromptLength: soft ? softPromptLengths.image : nil,
                                 textSoftPromptLength: soft ? softPromptLengths.text : nil, logitScale: learnScale)
        if !full && !soft && lora == nil && !learnScale {
            throw ConfigError("nothing to train: train.mode is adapters but train.soft_prompts and train.lora are both false.")
        }
        step = StepSettings(contrastiveWeight: loss.contrastive, ntpWeight: loss.ntp, ntpCaptions: loss.ntpCaptions,
                            hardNegatives: loss.contrastive > 0 ? loss.hardNegatives : 0, maskDuplicates: loss.maskDuplicates,
                            softPrompts: soft, fixedLogitScale: loss.logitScale,
                            microBatch: config.microBatch, dropoutSeed: seed)
        templates = PromptTemplates(config.prompts)
        schedule = LearningRateSchedule(peak: config.optimizer.lr, warmupSteps: config.warmupSteps, totalSteps: steps,
                                        shape: config.optimizer.schedule, minRatio: config.optimizer.minLRRatio)
        initialLogitScale = loss.logitScale
        compute = try ComputeChoice(config.memory.compute, fullModel: full)
        memory = ModelMemoryOptions(halfWeights: config.memory.halfWeights, recompute: config.memory.recompute, compute: compute.precision)
        if memory.halfWeights && full {
            throw ConfigError("memory.half_weights keeps the frozen base weights in 16-bit storage, but train.mode full trains every base weight; set memory.half_weights: false (or train.mode: adapters).")
        }
    }

    package init(_ config: ResolvedConfig, softPromptLengths: (image: Int, text: Int), worldSize: Int) throws {
        try self.init(RunConfiguration(config), softPromptLengths: softPromptLengths, worldSize: worldSize)
    }
}

// The configuration's sections as the model and step types they configure.
extension LoRASettings {
    package init(_ lora: RunConfiguration.LoRA) {
        self.init(rank: lora.rank, alpha: lora.alpha, dropout: lora.dropout, targetPattern: lora.targetModules)
    }
}

extension PromptTemplates {
    package init(_ prompts: RunConfiguration.Prompts) { self.init(image: prompts.image, text: prompts.text) }
}
