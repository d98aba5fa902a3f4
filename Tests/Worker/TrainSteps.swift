import Communication
import Foundation
import Images
import Kernels
import ModelFiles
import Models
import Training

/// `train-steps MODEL_DIR OUT_FILE MICRO_BATCH [hard-negatives] [bf16] [duplicates] [no-mask]`: three optimizer steps on a fixed global batch
/// of 6 pairs, each rank taking its contiguous share. Rank 0 prints one line per step
/// ("step S loss L contrastive C ntp N norm G") and writes the final trainable vector to OUT_FILE
/// as raw little-endian Float32 (and the first step's summed gradient to OUT_FILE.gradient), for the
/// test to compare across world sizes and micro-batches. With `hard-negatives` each pair carries
/// up to two false captions for the contrastive loss (gathered from every rank); with `bf16` the
/// model computes in bf16 (memory.compute bf16). With `duplicates` the batch holds false negatives
/// on different ranks: pair 5's caption is pair 0's up to case and spaces, and pairs 1 and 3
/// show the same image (equal image keys); `no-mask` turns duplicate masking off.
func trainSteps(_ arguments: [String], _ communicator: Communicator) throws -> Int32 {
    let options = Set(arguments.dropFirst(3))
    guard arguments.count >= 3, options.isSubset(of: ["hard-negatives", "bf16", "duplicates", "no-mask"]),
          options.count == arguments.count - 3, let microBatch = Int(arguments[2]) else {
        throw WorkerError(description: "usage: train-steps MODEL_DIR OUT_FILE MICRO_BATCH [hard-negatives] [bf16] [duplicates] [no-mask]")
    }
    let hardNegatives = options.contains("hard-negatives")
    let directory = try ModelDirectory(path: arguments[0])
    let prompts = try directory.promptBuilder()
    // LoRA dropout on: its masks must not depend on ranks or micro-batches either.
    let trainable = TrainableSet(lora: LoRASettings(rank: 4, alpha: 8, dropout: 0.2), imageSoftPromptLength: prompts.imageSuffixIDs.count,
                                 textSoftPromptLength: prompts.textSuffixIDs.count, logitScale: true)
    let model: VisionLanguageModel<Float> = try directory.loadModel(trainable: trainable,
                                                                    memory: ModelMemoryOptions(compute: options.contains("bf16") ? .bf16 : .fp32))
    model.initializeAdapters(seed: 5, prompts: prompts)
    model.parameters[ObjectiveParameterName.logitScale].value[0] = 2.0

    // The global batch: pair 4 has no short caption, pair 2 no long one (both must be handled).
    let global = 6
    let duplicates = options.contains("duplicates")
    let shorts: [String?] = ["a red circle left of a blue square", "a small green triangle", "two shapes", "a star", nil,
                             duplicates ? " A red circle  LEFT of a blue square" : "a yellow ring above a cross"]
    let imageKeys: [UInt64] = duplicates ? [11, 12, 13, 12, 15, 16] : [11, 12, 13, 14, 15, 16]
    let longs: [String?] = ["A large red circle sits on the left of a blue square.", "One small green triangle.", nil,
                            "A white star in the middle.", "A purple hexagon in the corner.", "A yellow ring above a grey cross."]
    // Two per pair; pair 3 has none and pair 1 only one: they must drop out of the keys on every rank alike.
    let negatives: [String?] = ["a blue circle left of a red square", "a red square left of a blue circle", "a large green triangle", nil,
                                "three shapes", "two circles", nil, nil, "a circle", "a star", "a yellow ring below a cross", "a cross above a ring"]
    let (pixels, grids, starts) = try globalImages(directory, model: model, count: global)
    guard global % communicator.size == 0 else { throw WorkerError(description: "global batch 6 does not divide by \(communicator.size) ranks") }
    let local = global / communicator.size, offset = communicator.rank * local
    let batch = TrainingBatch(pixels: Array(pixels[starts[offset]..<starts[offset + local]]),
                              imageGrids: grids.isEmpty ? [] : Array(grids[offset..<offset + local]),
                              shortCaptions: Array(shorts[offset..<offset + local]), longCaptions: Array(longs[offset..<offset + local]),
                              negativeCaptions: hardNegatives ? Array(negatives[2 * offset..<2 * (offset + local)]) : [],
                              negativesPerPair: hardNegatives ? 2 : 0, globalOffset: offset,
                              imageKeys: Array(imageKeys[offset..<offset + local]))

    let step = TrainingStep(model: model, prompts: prompts, communicator: communicator,
                            settings: StepSettings(contrastiveWeight: 1, ntpWeight: 0.5, hardNegatives: hardNegatives ? 2 : 0,
                                                   maskDuplicates: !options.contains("no-mask"), microBatch: microBatch, dropoutSeed: 5))
    let update = ParameterUpdate(parameters: model.parameters,
                                 schedule: LearningRateSchedule(peak: 1e-2, warmupSteps: 0, totalSteps: 3, shape: .constant, minRatio: 0),
                                 gradientClip: 1.0, maxLogitScale: 4.6, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
    for s in 0..<3 {
        let result = try step.run(batch, step: s)
        if s == 0 && communicator.rank == 0 {
            // The first step's gradient, summed over ranks, before any update.
            let gradients = model.parameters.trainableGradients
            try Data(bytes: gradients.pointer, count: gradients.count * MemoryLayout<Float>.size)
                .write(to: URL(fileURLWithPath: arguments[1] + ".gradient"))
        }
        let outcome = update.apply(step: s)
        if communicator.rank == 0 {
            print("step \(s) loss \(result.loss) contrastive \(result.contrastiveLoss) ntp \(result.ntpLoss) norm \(outcome.gradientNorm) masked \(result.maskedKeys)")
        }
    }
    if communicator.rank == 0 {
        let values = model.parameters.trainableValues
        let data = Data(bytes: values.pointer, count: values.count * MemoryLayout<Float>.stride)
        try data.write(to: URL(fileURLWithPath: arguments[1]))
    }
    try communicator.finalize()
    return 0
}

/// The global batch's images as the model's vision encoder takes them, with each image's start in
/// the values: normalised-looking random values of the fixed size (LLaVA), or random RGB images of
/// six different sizes through the family's processor (Qwen2-VL).
func globalImages(_ directory: ModelDirectory, model: VisionLanguageModel<Float>, count: Int) throws
    -> (pixels: [Float], grids: [PatchGrid], starts: [Int]) {
    var random = Xoshiro256(seed: 77)
    guard case .qwen2VL(_, let settings) = directory.family else {
        let perImage = model.vision.inputValues(grid: nil)
        return ((0..<count * perImage).map { _ in random.uniform(-1.5, 1.5) }, [], (0...count).map { $0 * perImage })
    }
    let processor = try Qwen2VLImageProcessor(settings: settings)
    let sides = [(8, 16), (16, 8), (12, 12), (20, 12), (8, 8), (16, 16)]
    var pixels: [Float] = [], grids: [PatchGrid] = [], starts = [0]
    for i in 0..<count {
        let (height, width) = sides[i % sides.count]
        let image = RGBImage(width: width, height: height, pixels: (0..<width * height * 3).map { _ in UInt8(random.next() % 256) })
        let values = try processor.preprocess(image, source: "image \(i)")
        pixels += values.values
        grids.append(PatchGrid(rows: values.grid.height, columns: values.grid.width))
        starts.append(pixels.count)
    }
    return (pixels, grids, starts)
}
