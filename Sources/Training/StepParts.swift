import Communication
import Dispatch
import Models

/// What one step adds up on a rank before the ranks sum it: the loss parts, the input
/// positions and the analytic FLOPs.
struct StepTotals {
    var contrastiveLoss = 0.0, ntpLossSum = 0.0, tokens = 0.0, flops = 0.0, maskedKeys = 0.0
    static let count = 5

    /// Packed into (and read back from) a preallocated buffer of `count` for one all-reduce.
    func write(to sums: inout [Double]) {
        sums[0] = contrastiveLoss; sums[1] = ntpLossSum; sums[2] = tokens; sums[3] = flops; sums[4] = maskedKeys
    }
    init() {}
    init(_ sums: [Double]) {
        (contrastiveLoss, ntpLossSum, tokens, flops, maskedKeys) = (sums[0], sums[1], sums[2], sums[3], sums[4])
    }
}

/// Seconds spent per phase kind in one step (made once per TrainingStep: the step allocates nothing).
final class StepClock: @unchecked Sendable {
    var timing = StepTiming()

    func reset() { timing = StepTiming() }

    func measure<R>(_ phase: WritableKeyPath<StepTiming, Double>, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timing[keyPath: phase] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }
}

/// Analytic GEMM FLOPs of a step's passes (FlopEstimate), for the model as it trains.
struct StepFlops {
    let estimate: FlopEstimate
    let fullModel: Bool, visionBackward: Bool

    init(model: VisionLanguageModel<Float>) {
        estimate = FlopEstimate(model: model)
        fullModel = model.trainableSet.fullModel
        visionBackward = model.vision.needsBackward
    }

    /// One pass of `sequences` (with images of `visionMACs` multiply-adds in all) forward and
    /// backward, with `forwards` forwards in all (2 when GradCache runs it again).
    func pass(_ sequences: SequenceBatch, visionMACs vision: Double = 0, forwards: Int) -> Double {
        let language = estimate.languageMACs(batch: sequences.batch, length: sequences.sequence)
        return FlopEstimate.flops(macs: language, backward: true, fullModel: fullModel) + 2 * language * Double(forwards - 1)
            + FlopEstimate.flops(macs: vision, backward: visionBackward, fullModel: fullModel) + 2 * vision * Double(forwards - 1)
    }

    /// The output head on `rows` positions, forward and backward.
    func head(rows: Int) -> Double { FlopEstimate.flops(macs: estimate.headMACs(rows: rows), backward: true, fullModel: fullModel) }
}

/// The contrastive loss's collectives, each beside its adjoint. Forward: every rank's embeddings
/// (rows of `width`) are all-gathered into the global batch, in rank order. Backward: the gradient
/// with respect to the whole global batch is reduce-scattered (summed over ranks), so each rank
/// receives the complete gradient of the rows it owns (docs/method.md section 5).
struct EmbeddingExchange {
    let communicator: Communicator

    /// `count` local elements in, `count * ranks` global elements out.
    func gather<T: CommunicationElement>(_ local: UnsafePointer<T>, count: Int, into global: UnsafeMutablePointer<T>) throws {
        try communicator.allGather(send: UnsafeBufferPointer(start: local, count: count),
                                   receive: UnsafeMutableBufferPointer(start: global, count: count * communicator.size))
    }

    /// The adjoint of `gather`: `count * ranks` global gradient elements in, this rank's `count` out.
    func scatterGradient(_ global: UnsafePointer<Float>, count: Int, into local: UnsafeMutablePointer<Float>) throws {
        try communicator.reduceScatterSum(send: UnsafeBufferPointer(start: global, count: count * communicator.size),
                                          receive: UnsafeMutableBufferPointer(start: local, count: count))
    }
}

/// The passes whose LoRA dropout masks a sample draws: each pass of one sample gets its own
/// masks, the same on any number of ranks or micro-batches.
enum DropoutPass {
    case image, text
    /// The k-th next-token caption of a pair (0 or 1) in its own pass.
    case generative(Int)
    /// The k-th hard negative caption of a pair (0 ..< 16).
    case negative(Int)

    var number: UInt64 {
        switch self {
        case .image: return 1
        case .text: return 2
        case .generative(let k): return 3 + UInt64(k)
        case .negative(let k): return 7 + UInt64(k)
        }
    }
}
