import Checkpointing
import Communication
import Configuration
import Datasets
import Foundation
import Kernels
import Layers
import ModelFiles
import Models
import Training

/// `discern train`: model, data, adapters, resume, the loop and its checkpoints, on every rank.
package final class TrainingRun {
    let configuration: RunConfiguration
    let communicator: Communicator
    let say: (String) -> Void
    let warn: (String) -> Void
    /// True once `run` returned early because `stopSignal` fired on some rank (the same on every
    /// rank: it is the all-reduced decision): the checkpoint is written and the run is meant to be
    /// resumed (the launcher requeues it).
    package private(set) var stoppedBySignal = false

    package init(config: ResolvedConfig, communicator: Communicator, say: @escaping (String) -> Void, warn: @escaping (String) -> Void) {
        self.configuration = RunConfiguration(config)
        self.communicator = communicator
        self.say = say
        self.warn = warn
    }

    /// What a run trains with, loaded and checked on every rank.
    struct LoadedRun {
        let prompts: PromptBuilder
        let settings: RunSettings
        let dataset: Dataset
        let split: DatasetSplit
        let data: ShardTrainingData
        let stepsPerEpoch: Int
        let model: VisionLanguageModel<Float>
        let update: ParameterUpdate
        let base: BaseFingerprint
        let store: CheckpointStore
    }

    /// Trains; `resume` is nil (fresh), "auto" (latest complete checkpoint in run_dir, fresh if
    /// none) or a checkpoint path. `stopSignal` is polled at step boundaries. Returns the path
    /// of the last checkpoint written.
    @discardableResult
    package func run(resume: String?, stopAt: Int? = nil, stopSignal: @escaping () -> Bool = { false }) throws -> String? {
        try startWatchdog()
        // The first collective: ranks that run different commands stop here, together.
        try RunAgreement.checkCommand(configuration.resolved, resume: resume, stopAt: stopAt, on: communicator)
        let run = try load()
        let resumedFrom = try restore(run, resume: resume)
        if communicator.rank == 0 {
            try FileManager.default.createDirectory(atPath: configuration.runDir, withIntermediateDirectories: true)
            let trainableCount = run.model.parameters.trainableValues.count
            say("training \(configuration.model) on \(run.split.count) pairs from \(configuration.data): \(run.settings.steps) steps of "
                + "\(run.settings.globalBatch) pairs on \(communicator.size) rank(s), \(trainableCount) trainable values (\(describe(run.settings.trainable)))")
        }
        try communicator.barrier()
        return try train(run, startStep: resumedFrom?.step ?? 0, lastCheckpoint: resumedFrom?.path, stopAt: stopAt, stopSignal: stopSignal)
    }

    /// The model, the prompts, the settings and the training data, each checked against the others.
    func load() throws -> LoadedRun {
        let modelPath = configuration.model
        guard !modelPath.isEmpty else { throw ConfigError("no model: set `model:` in the config or pass --model DIR.") }
        guard !configuration.data.isEmpty else { throw ConfigError("no data: set `data:` in the config or pass --data DIR (made by discern prepare or discern synth).") }
        let threads = configuration.threads
        KernelThreads.count = threads > 0 ? threads : Int(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "") ?? 1

        let directory = try ModelDirectory(path: modelPath)
        let prompts = try directory.promptBuilder(templates: PromptTemplates(configuration.prompts))
        let settings = try RunSettings(configuration, softPromptLengths: (prompts.imageSuffixIDs.count, prompts.textSuffixIDs.count),
                                       worldSize: communicator.size)
        if settings.compute.precision == .bf16 { setThreads(KernelThreads.count, bfloat16Compute: true) }
        let (dataset, split, data, stepsPerEpoch) = try loadData(settings: settings, directory: directory)
        let model: VisionLanguageModel<Float> = try directory.loadModel(trainable: settings.trainable, memory: settings.memory)
        if communicator.rank == 0 { reportCompute(settings.compute, model) }
        if settings.memory.halfWeights && settings.memory.compute == .fp32 && communicator.rank == 0 { reportHalfWeights(model) }
        model.initializeAdapters(seed: settings.seed, prompts: prompts)
        if settings.trainable.logitScale {
            model.parameters[ObjectiveParameterName.logitScale].value[0] = Float(settings.initialLogitScale)
        }
        let update = ParameterUpdate(parameters: model.parameters, schedule: settings.schedule, configuration: configuration)
        return LoadedRun(prompts: prompts, settings: settings, dataset: dataset, split: split, data: data, stepsPerEpoch: stepsPerEpoch,
                         model: model, update: update, base: BaseFingerprint(config: directory.config),
                         store: CheckpointStore(directory: configuration.runDir, keep: configuration.checkpoint.keep))
    }

    /// The train split, checked against the model: a fixed-size family needs its own image size;
    /// a family whose images keep their own sizes (Qwen2-VL) smart-resizes whatever is stored.
    func loadData(settings: RunSettings, directory: ModelDirectory) throws -> (Dataset, DatasetSplit, ShardTrainingData, Int) {
        let dataPath = configuration.data
        let dataset = try Dataset.open(dataPath)
        let split = try dataset.split("train")
        if let imageSize = directory.config.fixedImageSize, split.imageSize != imageSize {
            throw ConfigError("\(dataPath): holds \(split.layout.imagesPhrase) but the model expects "
                + "\(imageSize)x\(imageSize); re-run discern prepare with --image-size \(imageSize).")
        }
        if case .own(let sizing) = split.layout, case .qwen2VL(_, let images) = directory.family, let problem = sizing.mismatch(with: images) {
            throw ConfigError("\(dataPath): \(problem).")
        }
        try TrainingDataCheck.check(split, step: settings.step, dataPath: dataPath)
        let data = ShardTrainingData(split: split, seed: settings.seed, hardNegatives: settings.step.hardNegatives,
                                     encoding: try TrainingImageEncoding(directory.family))
        let stepsPerEpoch = data.stepsPerEpoch(settings.batch)
        guard stepsPerEpoch > 0 else {
            throw ConfigError("\(dataPath): the train split has \(split.count) samples, fewer than one global batch of \(settings.globalBatch).")
        }
        return (dataset, split, data, stepsPerEpoch)
    }

    /// The precision of the frozen-weight products, why, and (bf16) how the weights are held.
    func reportCompute(_ choice: ComputeChoice, _ model: VisionLanguageModel<Float>) {
        guard choice.precision == .bf16 else { return say("compute: fp32 (\(choice.reason))") }
        let held = model.parameters.halfParameters
        let owned = held.filter { $0.half!.owner is OwnedBFloat16Storage }
        say(String(format: "compute: bf16 (%@): %d frozen weights (%.2f GB) held as bf16, %d of them converted at load, %d mapped in place",
                   choice.reason, held.count, Double(held.reduce(0) { $0 + $1.half!.byteCount }) / 1e9, owned.count, held.count - owned.count))
    }

    func reportHalfWeights(_ model: VisionLanguageModel<Float>) {
        let half = model.parameters.halfParameters
        say(half.isEmpty
            ? "memory.half_weights: \(configuration.model) stores no F16/BF16 weights, so every weight is widened to float32 on load as usual"
            : String(format: "memory.half_weights: %d frozen weights (%.2f GB) stay 16-bit in the mapped files, widened per use into one %.2f GB buffer",
                     half.count, Double(half.reduce(0) { $0 + $1.half!.byteCount }) / 1e9,
                     Double(4 * (model.parameters.widening?.capacity ?? 0)) / 1e9))
    }

    /// Repairs the run directory, agrees on what was loaded and, when resuming, restores the
    /// checkpoint. Returns its path and step; nil for a fresh start.
    func restore(_ run: LoadedRun, resume: String?) throws -> (path: String, step: Int)? {
        // Every start (fresh or resumed) repairs the run directory first, on rank 0: stale temporary
        // files go and `latest` names the newest verified checkpoint, even for a run that is done.
        let newest = communicator.rank == 0 ? run.store.repair(note: say, warn: warn) : nil
        let resumed = try resume.flatMap { try resumeState($0, newest: newest, store: run.store) }
        // Before the next collective: the files every rank loaded must be the same too.
        try RunAgreement.checkLoaded(dataset: run.dataset, base: run.base, model: run.model, resumed: resumed, on: communicator)
        guard let state = resumed else { return nil }
        try checkCompatible(state.state, path: state.path, base: run.base)
        try TrainingState.restore(state.state, into: run.model, update: run.update, source: state.path)
        let step = state.state.step
        guard step <= run.settings.steps else {
            throw CheckpointError("\(state.path) is at step \(step), past the \(run.settings.steps) steps asked for; raise --steps to train further.")
        }
        if communicator.rank == 0 {
            say("resumed from \(state.path) at step \(step)" + (state.state.worldSize != communicator.size
                ? " (trained on \(state.state.worldSize) rank(s), continuing on \(communicator.size))" : ""))
        }
        return (state.path, step)
    }

    /// The training loop from `startStep`, with its periodic and final checkpoints and the stop
    /// decision all ranks share.
    func train(_ run: LoadedRun, startStep: Int, lastCheckpoint resumedFrom: String?, stopAt: Int?,
               stopSignal: @escaping () -> Bool) throws -> String? {
        let settings = run.settings
        let step = TrainingStep(model: run.model, prompts: run.prompts, communicator: communicator, settings: settings.step)
        let trainer = try Trainer(settings: settings, step: step, update: run.update, data: run.data, communicator: communicator,
                                  runDirectory: URL(fileURLWithPath: configuration.runDir), logEvery: configuration.logEvery,
                                  startStep: startStep, say: say)
        var lastCheckpoint = resumedFrom
        trainer.lastCheckpoint = { lastCheckpoint }
        func save(_ completed: Int) throws {
            let state = TrainingState.capture(model: run.model, update: run.update, completedSteps: completed, stepsPerEpoch: run.stepsPerEpoch,
                                              seed: settings.seed, worldSize: communicator.size, globalBatch: settings.globalBatch,
                                              configYAML: configuration.yaml, base: run.base)
            try refuseNonFinite(state, step: completed, lastCheckpoint: lastCheckpoint)
            if communicator.rank == 0 { lastCheckpoint = try run.store.save(state) }
            try communicator.barrier()   // no rank runs ahead of a checkpoint being written
        }
        let every = configuration.checkpoint.every
        trainer.afterStep = { completed in
            if every > 0 && completed % every == 0 && completed < settings.steps { try save(completed) }
        }
        // Every rank must stop at the same step boundary: any rank that saw the signal stops all.
        trainer.stopRequested = { [communicator, unowned self] in
            if let stopAt, trainer.completedSteps >= stopAt { return true }
            stoppedBySignal = (try? communicator.allReduceMax(stopSignal() ? 1.0 : 0.0)) == 1.0
            return stoppedBySignal
        }
        try trainer.run()
        // The same decision on every rank (save() holds a barrier): nothing new to save when a
        // resumed run had already finished.
        if trainer.completedSteps > startStep || startStep == 0 { try save(trainer.completedSteps) }
        if communicator.rank == 0 {
            let stopped = trainer.completedSteps < settings.steps
            say(stopped ? "stopped at step \(trainer.completedSteps) of \(settings.steps); checkpoint \(lastCheckpoint ?? "-"). Resume with --resume auto."
                        : "done: \(trainer.completedSteps) steps; checkpoint \(lastCheckpoint ?? "-")")
        }
        return lastCheckpoint
    }

    /// Nothing non-finite is ever saved. Every rank holds the same replica, so every rank stops
    /// here alike and none is left waiting at the save's barrier.
    func refuseNonFinite(_ state: CheckpointState, step: Int, lastCheckpoint: String?) throws {
        guard let bad = state.firstNonFinite() else { return }
        let lr = configuration.optimizer.lr
        throw TrainingError("step \(step): \(bad.group)/\(bad.tensor) holds a non-finite value (index \(bad.index)), so no "
            + "checkpoint was written. Last good checkpoint: "
            + (lastCheckpoint.map { "\($0) (resume from it with --resume \($0) and a lower optimizer.lr, now \(lr))" }
                ?? "none written yet (lower optimizer.lr, now \(lr), and start again)") + ".")
    }

    /// Ends this rank when a collective waits past `distributed.timeout` or its launcher dies.
    func startWatchdog() throws {
        let timeout = configuration.distributed.timeout
        // Below a second, ordinary waits for a slower rank would look like a lost host.
        guard timeout == 0 || timeout >= 1 else {
            throw ConfigError("distributed.timeout is \(timeout): it must be 0 (wait forever) or at least 1 second; the default is 600.")
        }
        Watchdog.start(for: communicator, timeout: timeout)
    }

    func describe(_ t: TrainableSet) -> String {
        var parts: [String] = []
        if t.fullModel { parts.append("all base weights") }
        if let lora = t.lora { parts.append("LoRA r\(lora.rank) alpha \(Int(lora.alpha))") }
        if t.imageSoftPromptLength != nil { parts.append("soft prompts \(t.imageSoftPromptLength!)+\(t.textSoftPromptLength!) rows") }
        if t.logitScale { parts.append("logit scale") }
        return parts.joined(separator: ", ")
    }

    /// Rank 0 picks the checkpoint (so every rank resumes from the same file) and broadcasts its path.
    /// Only after the command check: a rank without `--resume` would never join this broadcast.
    func resumeState(_ resume: String, newest: (path: String, state: CheckpointState)?,
                     store: CheckpointStore) throws -> (path: String, state: CheckpointState)? {
        var chosen = ""
        if communicator.rank == 0 {
            if resume == "auto" {
                chosen = newest?.path ?? ""
                if chosen.isEmpty { say("no checkpoint in \(store.directory): starting fresh") }
            } else {
                chosen = resume
            }
        }
        chosen = try communicator.broadcast(chosen, root: 0)
        guard !chosen.isEmpty else { return nil }
        if let newest, newest.path == chosen { return newest }   // rank 0 has just read and verified it
        return (chosen, try CheckpointFile.read(chosen, warn: warn))
    }

    func checkCompatible(_ state: CheckpointState, path: String, base: BaseFingerprint) throws {
        try base.check(state, path: path, model: configuration.model)
        let stored = try ResolvedConfig.parseStored(yaml: state.configYAML, source: "\(path):/config")
        let conflicts = configuration.resolved.resumeConflicts(with: stored)
        guard conflicts.isEmpty else {
            throw CheckpointError("\(path) cannot be resumed with this configuration; these keys differ:\n"
                + conflicts.map { "  \($0)" }.joined(separator: "\n")
                + "\n  Resume with the checkpoint's values (its configuration is stored in the file) or start a new run directory.")
        }
        let changed = configuration.resolved.resumeChanges(from: stored)
        if !changed.isEmpty && communicator.rank == 0 {
            say("note: resuming with changed settings: " + changed.joined(separator: ", "))
        }
    }
}
