import Kernels
import Layers

/// Qwen2-VL's vision half: patch rows (as Qwen2VLImageProcessor lays them out) -> patch
/// embedding -> blocks of bidirectional attention WITHIN each image (the images of a batch are
/// packed segments) with a 2-D rotary on each patch's (row, column) -> the patch merger, whose
/// rows are the LLM's image tokens. Images may have different sizes.
public final class Qwen2VLVisionEncoder<T: KernelScalar>: VisionEncoder, @unchecked Sendable {
    public typealias Scalar = T
    public let config: Qwen2VLVisionConfig
    public let needsBackward: Bool
    let patchEmbedding: Linear<T>
    let blocks: TransformerStack<T>
    let mergerNorm: Norm<T>
    let mergerMLP: FeedForward<T>
    /// The 2-D rotary: angles [row * f, column * f], f = head_dim / 4 frequencies.
    public let rotary: RotaryTable<T>
    // Backward temporaries: a model runs one backward at a time.
    private let stackScratch = StackScratch<T>()
    private let mlpScratch = FeedForward<T>.Scratch()
    private let dMerged = GrowableBuffer<T>(), dBlocks = GrowableBuffer<T>(), dEmbedded = GrowableBuffer<T>(), loraScratch = GrowableBuffer<T>()

    /// maxPatchSide: the longest image side, in patches, the rotary table covers (the image
    /// processor's max_pixels bounds it).
    public init(blueprint: Qwen2VLBlueprint, config: Qwen2VLVisionConfig, maxPatchSide: Int, loraAlpha: Double, recompute: Bool,
                parameters p: ParameterTable<T>) {
        self.config = config
        let lora = LoRABehaviour(alpha: loraAlpha, dropout: 0)
        let headDim = config.headDim, quarter = headDim / 4
        let frequencies = rotaryInverseFrequencies(headDim: headDim / 2, theta: 10_000)
        let rotary = RotaryTable<T>(headDim: headDim, maxPositions: maxPatchSide, inverseFrequencies: frequencies + frequencies,
                                    sections: [quarter, quarter])
        self.rotary = rotary
        let vision = blueprint.vision
        patchEmbedding = Linear(weight: p[vision.patchEmbedding.name], bias: nil, lora: nil)
        let layers = vision.blocks.map { block in
            TransformerLayer<T>(norm1: Norm(block.norm1, parameters: p),
                                attention: SelfAttention(projection: .fused(Linear(block.qkv, parameters: p, lora: lora)),
                                                         o: Linear(block.proj, parameters: p, lora: lora),
                                                         queryHeads: vision.numHeads, keyValueHeads: vision.numHeads,
                                                         headDim: vision.headDim, causal: false, rotary: rotary),
                                norm2: Norm(block.norm2, parameters: p),
                                feedForward: FeedForward(block.feedForward, parameters: p, lora: lora))
        }
        blocks = TransformerStack(layers: layers, hidden: config.embedDim, recompute: recompute)
        mergerNorm = Norm(blueprint.merger.norm, parameters: p)
        mergerMLP = FeedForward(blueprint.merger.mlp, parameters: p, lora: lora)
        needsBackward = p.trainsAny(of: vision.tensors + blueprint.merger.tensors)
        // A frozen tower is never differentiated: its forwards keep no attention probabilities.
        for layer in layers { layer.attention.savesProbabilities = needsBackward }
    }

    final class Tape: VisionEncoderTape, @unchecked Sendable {
        let positions = GrowableArray<Int32>()   // (2, patches): each patch's row, then column
        let bounds = GrowableArray<Int32>()      // images + 1 patch offsets
        let embedded = GrowableBuffer<T>()       // (patches, embed)
        let normed = GrowableBuffer<T>()         // (patches, embed): ln_q of the blocks' output
        let features = GrowableBuffer<T>()       // (tokens, hidden)
        var blocksOutput: UnsafeMutablePointer<T>?
        let blocksTape = TransformerStack<T>.Tape()
        let embeddingTape = Linear<T>.Tape(), normTape = Norm<T>.Tape(), mlpTape = FeedForward<T>.Tape()
    }

    public func makeTape() -> any VisionEncoderTape { Tape() }

    public func tokens(grid: PatchGrid?) -> Int {
        guard let grid else { preconditionFailure("Qwen2-VL images have no fixed size: pass each image's patch grid") }
        return grid.rows * grid.columns / config.mergeWindow
    }

    public func tokenGrid(_ grid: PatchGrid?) -> PatchGrid? {
        guard let grid else { preconditionFailure("Qwen2-VL images have no fixed size: pass each image's patch grid") }
        return PatchGrid(rows: grid.rows / config.spatialMergeSize, columns: grid.columns / config.spatialMergeSize)
    }

    public func inputValues(grid: PatchGrid?) -> Int {
        guard let grid else { preconditionFailure("Qwen2-VL images have no fixed size: pass each image's patch grid") }
        return grid.rows * grid.columns * config.patchLength
    }

    public func multiplyAdds(grid: PatchGrid?) -> Double {
        guard let grid else { return 0 }
        let patches = Double(grid.rows * grid.columns), d = Double(config.embedDim), mlp = Double(config.mlpWidth)
        let merged = Double(config.mergedWidth), tokens = Double(tokens(grid: grid))
        let perBlock = patches * (4 * d * d + 2 * d * mlp) + 2 * patches * patches * d
        return patches * Double(config.patchLength) * d + Double(config.depth) * perBlock
            + tokens * (merged * merged + merged * Double(config.hiddenSize))
    }

    /// images.pixels: every image's patch rows one after another, (patches, patch length).
    public func forward(_ images: ImageBatch<T>, tape: any VisionEncoderTape) -> UnsafeMutablePointer<T> {
        let tape = tape as! Tape, embed = config.embedDim
        let patches = layPositions(images, tape: tape)
        let embedded = tape.embedded.reserve(max(patches, 1) * embed)
        patchEmbedding.forward(images.pixels, rows: patches, into: embedded, tape: tape.embeddingTape)
        let output = blocks.forward(embedded, layout: layout(tape, images: images.count, patches: patches), tape: tape.blocksTape)
        tape.blocksOutput = output
        let normed = tape.normed.reserve(max(patches, 1) * embed)
        mergerNorm.forward(output, rows: patches, into: normed, tape: tape.normTape)
        // Each merge window's patch rows are consecutive: as a (tokens, window * embed) matrix.
        let tokens = patches / config.mergeWindow
        let features = tape.features.reserve(max(tokens, 1) * config.hiddenSize)
        mergerMLP.forward(normed, rows: tokens, into: features, tape: tape.mlpTape)
        return features
    }

    public func backward(_ dFeatures: UnsafePointer<T>, images: ImageBatch<T>, tape: any VisionEncoderTape, scratch: StackScratch<T>) {
        let tape = tape as! Tape, embed = config.embedDim
        guard needsBackward, let output = tape.blocksOutput else { return }
        let patches = Int(tape.bounds.pointer[images.count]), tokens = patches / config.mergeWindow
        let dNormed = dMerged.reserveZeroed(patches * embed)
        mergerMLP.backward(dFeatures, input: tape.normed.pointer, rows: tokens, dx: dNormed, tape: tape.mlpTape, scratch: mlpScratch)
        let dOutput = dBlocks.reserveZeroed(patches * embed)
        mergerNorm.backward(dNormed, input: output, rows: patches, dx: dOutput, tape: tape.normTape)
        let trainsEmbedding = patchEmbedding.weight.trainable
        let dInput = trainsEmbedding ? dEmbedded.reserveZeroed(patches * embed) : nil
        blocks.backward(dOutput, layout: layout(tape, images: images.count, patches: patches), dx: dInput, tape: tape.blocksTape,
                        scratch: stackScratch)
        if let dInput {
            patchEmbedding.backward(dInput, input: images.pixels, rows: patches, dx: nil, tape: tape.embeddingTape, scratch: loraScratch)
        }
    }

    /// The blocks' layout: one packed sequence of every patch, each image its own segment.
    func layout(_ tape: Tape, images: Int, patches: Int) -> SequenceLayout {
        SequenceLayout(batch: 1, sequence: patches, positions: UnsafePointer(tape.positions.pointer),
                       segments: AttentionSegments(bounds: UnsafePointer(tape.bounds.pointer), count: images))
    }

    /// Writes each patch's (row, column) in the processor's merged-window order and the images'
    /// patch offsets; returns the number of patches.
    func layPositions(_ images: ImageBatch<T>, tape: Tape) -> Int {
        precondition(images.grids.count == images.count, "Qwen2-VL needs every image's patch grid")
        let merge = config.spatialMergeSize
        let patches = images.grids.reduce(0) { $0 + $1.rows * $1.columns }
        let positions = tape.positions.reserve(2 * max(patches, 1)), bounds = tape.bounds.reserve(images.count + 1)
        var next = 0
        bounds[0] = 0
        for (i, grid) in images.grids.enumerated() {
            precondition(grid.rows % merge == 0 && grid.columns % merge == 0, "image \(i): grid \(grid) is not a multiple of the merge size \(merge)")
            precondition(max(grid.rows, grid.columns) <= rotary.maxPositions, "image \(i): grid \(grid) beyond the rotary table's \(rotary.maxPositions)")
            for windowRow in 0..<grid.rows / merge {
                for windowColumn in 0..<grid.columns / merge {
                    for r in 0..<merge {
                        for c in 0..<merge {
                            positions[next] = Int32(windowRow * merge + r)
                            positions[patches + next] = Int32(windowColumn * merge + c)
                            next += 1
                        }
                    }
                }
            }
            bounds[i + 1] = Int32(next)
        }
        return patches
    }
}
