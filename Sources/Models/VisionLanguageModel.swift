import Kernels
import Layers

/// A vision-language model of any family: a vision encoder (images -> rows at the LLM's
/// width) and a language decoder, with LoRA adapters and soft prompts where the trainable set
/// puts them. The family's config (VisionLanguageConfig) describes the tensors and builds both
/// parts. Model code only: no files, no MPI (the ModelFiles module reads model directories).
public final class VisionLanguageModel<T: KernelScalar>: @unchecked Sendable {
    public let config: any VisionLanguageConfig
    public let trainableSet: TrainableSet
    public let parameters: ParameterTable<T>
    /// Every base tensor, as the blueprints the model is built from describe them.
    public let modelDescription: ModelDescription
    public let vision: any VisionEncoder<T>
    public let language: LlamaModel<T>
    public let imagePrompt: Parameter<T>?   // (imageSoftPromptLength, hidden)
    public let textPrompt: Parameter<T>?    // (textSoftPromptLength, hidden)

    /// A model with every parameter zero; fill it with `load` or an initialiser.
    ///   halfWeights: frozen base weights that stay in 16-bit storage (ModelDirectory picks them
    ///     by TensorBlueprint.mayStayHalf), widened per use; see WidenedWeightScratch
    ///   recompute: both towers re-run each layer's forward in the backward instead of keeping
    ///     every layer's activations (same gradients, bit for bit; one more forward of cost)
    ///   compute: bf16 runs the Linear layers over the (then all bf16) halfWeights as bf16 GEMMs
    public init(config: any VisionLanguageConfig, trainable: TrainableSet, halfWeights: [String: HalfMatrix] = [:],
                recompute: Bool = false, compute: ComputePrecision = .fp32) throws {
        self.config = config
        trainableSet = trainable
        modelDescription = config.modelDescription
        let table = ParameterTable<T>(try modelDescription.parameterSpecs(trainable: trainable, hidden: config.hiddenSize),
                                      halfWeights: halfWeights, compute: compute)
        parameters = table
        (vision, language) = config.makeParts(parameters: table, trainable: trainable, recompute: recompute)
        imagePrompt = table.contains(SoftPromptName.image) ? table[SoftPromptName.image] : nil
        textPrompt = table.contains(SoftPromptName.text) ? table[SoftPromptName.text] : nil
    }

    public var hidden: Int { config.hiddenSize }
    /// LLM positions one image of the fixed-size family takes.
    public var imageTokens: Int { vision.tokens(grid: nil) }

    /// Everything one forward keeps for its backward. A training step holds one Pass per
    /// forward it must differentiate (image tower, text tower); passes are reused across steps.
    public final class Pass: @unchecked Sendable {
        var visionTape: (any VisionEncoderTape)?
        let languageTape = LlamaModel<T>.Tape()
        let inputs = GrowableBuffer<T>()       // (rows, hidden)
        let keyMask = GrowableArray<UInt8>()
        let positions = GrowableArray<Int32>()
        let rowKeys = GrowableArray<UInt64>()
        // M-RoPE's per-image layout (see `set`), kept so that their storage is reused.
        var tokenGrids: [PatchGrid] = [], imageOffsets: [Int] = []
        var images: ImageBatch<T>?
        var features: UnsafeMutablePointer<T>?   // (image rows, hidden): the encoder's output
        var imageRows = 0
        public private(set) var sequences = SequenceBatch(batch: 0, sequence: 0)
        public init() {}

        func layout(_ sequences: SequenceBatch) -> SequenceLayout {
            SequenceLayout(batch: sequences.batch, sequence: sequences.sequence,
                           keyMask: UnsafePointer(keyMask.pointer), positions: UnsafePointer(positions.pointer),
                           dropout: sequences.dropoutSeed.map { DropoutContext(seed: $0, rowKeys: UnsafePointer(rowKeys.pointer)) })
        }

        /// Copies the sequences' masks and row keys and lays their rotary positions: as the
        /// sequences give them (one stream), or in three multimodal streams (M-RoPE) from the
        /// image tokens' grids.
        func set(_ sequences: SequenceBatch, streams: Int, vision: any VisionEncoder<T>) {
            self.sequences = sequences
            let rows = sequences.rows
            let mask = keyMask.reserve(rows), keys = rowKeys.reserve(rows)
            for r in 0..<rows {
                mask[r] = sequences.keyMask[r]
                keys[r] = sequences.rowKeys[r]
            }
            let positions = positions.reserve(max(streams * rows, 1))
            guard streams == 3 else {
                precondition(streams == 1, "the decoder reads \(streams) position streams; 1 (RoPE) or 3 (M-RoPE) are laid out")
                for r in 0..<rows { positions[r] = sequences.positions[r] }
                return
            }
            // Each image's token grid and first feature row, refilled in place: after the first
            // step the arrays have the capacity and the step allocates nothing here.
            tokenGrids.removeAll(keepingCapacity: true)
            imageOffsets.removeAll(keepingCapacity: true)
            imageOffsets.append(0)
            for grid in images?.grids ?? [] {
                let tokens = vision.tokenGrid(grid)!
                tokenGrids.append(tokens)
                imageOffsets.append(imageOffsets[imageOffsets.count - 1] + tokens.rows * tokens.columns)
            }
            multimodalPositions(sequences, imageOffsets: imageOffsets, tokenGrids: tokenGrids, into: positions)
        }
    }

    /// Runs images (if any) through the vision encoder, assembles the input embeddings and runs
    /// the LLM. Returns the final hidden states (rows, hidden), owned by the pass.
    public func forward(images: ImageBatch<T>?, sequences: SequenceBatch, pass: Pass) -> UnsafeMutablePointer<T> {
        encodeImages(images, pass: pass)
        return forwardLanguage(sequences: sequences, pass: pass)
    }

    /// The first half of `forward`: images through the vision encoder, kept in the pass for the
    /// sequences' image rows.
    public func encodeImages(_ images: ImageBatch<T>?, pass: Pass) {
        pass.images = images
        pass.features = nil
        pass.imageRows = 0
        guard let images, images.count > 0 else { return }
        let tape = pass.visionTape ?? vision.makeTape()
        pass.visionTape = tape
        pass.features = visionForward(images, tape: tape)
        pass.imageRows = images.grids.isEmpty ? images.count * vision.tokens(grid: nil) : images.grids.reduce(0) { $0 + vision.tokens(grid: $1) }
    }

    /// The second half of `forward`: assembles the input embeddings (image rows from the last
    /// `encodeImages` on this pass) and runs the LLM. Returns the final hidden states (rows,
    /// hidden), owned by the pass.
    public func forwardLanguage(sequences: SequenceBatch, pass: Pass) -> UnsafeMutablePointer<T> {
        pass.set(sequences, streams: language.rotary.streams, vision: vision)
        let inputs = pass.inputs.reserve(sequences.rows * hidden)
        assembleInputs(sequences, features: pass.features.map { UnsafePointer($0) }, imageRows: pass.imageRows, into: inputs)
        return language.forward(inputs, layout: pass.layout(sequences), tape: pass.languageTape)
    }

    /// Gathers each position's input embedding: a token's row of embed_tokens, an image
    /// feature, a soft prompt row, or zeros for padding.
    func assembleInputs(_ s: SequenceBatch, features: UnsafePointer<T>?, imageRows: Int, into x: UnsafeMutablePointer<T>) {
        let table = language.embedTokens, vocab = config.vocabularySize, width = hidden
        for r in 0..<s.rows {
            let slot = Int(s.slots[r]), row = x + r * width
            switch s.kinds[r] {
            case .padding: row.update(repeating: 0, count: width)
            case .token:
                precondition(slot >= 0 && slot < vocab, "token id \(slot) outside the vocabulary of \(vocab)")
                table.copyRow(slot, into: row)   // widens just this row when the table is 16-bit
            case .image:
                guard let features, slot >= 0 && slot < imageRows else { preconditionFailure("image feature row \(slot) of \(imageRows)") }
                row.update(from: features + slot * width, count: width)
            case .imagePrompt:
                guard let prompt = imagePrompt else { preconditionFailure("sequence uses an image soft prompt the model does not have") }
                row.update(from: prompt.value + slot * width, count: width)
            case .textPrompt:
                guard let prompt = textPrompt else { preconditionFailure("sequence uses a text soft prompt the model does not have") }
                row.update(from: prompt.value + slot * width, count: width)
            }
        }
    }

    /// Backward of `forward` from dHidden: (rows, hidden), the gradient of the final hidden
    /// states. Adds into every trainable parameter's gradient.
    public func backward(_ dHidden: UnsafePointer<T>, pass: Pass, scratch: ModelScratch<T>) {
        let s = pass.sequences, width = hidden
        let needsInputGradient = imagePrompt != nil || textPrompt != nil || language.embedTokens.trainable || vision.needsBackward
        let dInputs = needsInputGradient ? scratch.inputs.reserveZeroed(s.rows * width) : nil
        language.backward(dHidden, layout: pass.layout(s), dInputs: dInputs, tape: pass.languageTape,
                          scratch: scratch.stack, buffers: scratch.language)
        guard let dInputs else { return }
        let imageRows = pass.imageRows
        let dFeatures = scratch.features.reserveZeroed(max(imageRows, 1) * width)
        for r in 0..<s.rows {
            let slot = Int(s.slots[r]), row = dInputs + r * width
            let target: UnsafeMutablePointer<T>?
            switch s.kinds[r] {
            case .padding: target = nil
            case .token: target = language.embedTokens.gradient.map { $0 + slot * width }
            case .image: target = dFeatures + slot * width
            case .imagePrompt: target = imagePrompt?.gradient.map { $0 + slot * width }
            case .textPrompt: target = textPrompt?.gradient.map { $0 + slot * width }
            }
            if let target { for i in 0..<width { target[i] += row[i] } }
        }
        guard imageRows > 0, vision.needsBackward, let images = pass.images, let tape = pass.visionTape else { return }
        visionBackward(dFeatures, images: images, tape: tape, scratch: scratch.stack)
    }

    // The encoder is held as `any VisionEncoder<T>`, and a call through it runs the encoder's
    // unspecialised generic code: cross-module optimisation specialises a generic body only
    // where the call site names the concrete type. Every kernel of the tower then went through
    // witness tables (the Qwen2-VL-2B tower's forward took 3.4x its GEMMs' time; LLaVA's
    // bench-small tower 2x). So the two families' encoders are called by their concrete
    // (final) classes here, which this specialised model code can inline; another family's
    // encoder still works through the protocol, only slower.
    func visionForward(_ images: ImageBatch<T>, tape: any VisionEncoderTape) -> UnsafeMutablePointer<T> {
        if let encoder = vision as? Qwen2VLVisionEncoder<T> { return encoder.forward(images, tape: tape) }
        if let encoder = vision as? LlavaVisionEncoder<T> { return encoder.forward(images, tape: tape) }
        return vision.forward(images, tape: tape)
    }

    func visionBackward(_ dFeatures: UnsafePointer<T>, images: ImageBatch<T>, tape: any VisionEncoderTape, scratch: StackScratch<T>) {
        if let encoder = vision as? Qwen2VLVisionEncoder<T> { return encoder.backward(dFeatures, images: images, tape: tape, scratch: scratch) }
        if let encoder = vision as? LlavaVisionEncoder<T> { return encoder.backward(dFeatures, images: images, tape: tape, scratch: scratch) }
        vision.backward(dFeatures, images: images, tape: tape, scratch: scratch)
    }
}

/// Backward temporaries of the whole model, shared by all passes.
public final class ModelScratch<T: KernelScalar>: @unchecked Sendable {
    let inputs = GrowableBuffer<T>(), features = GrowableBuffer<T>()
    let stack = StackScratch<T>()
    let language = LanguageBackwardBuffers<T>()
    public init() {}
}
