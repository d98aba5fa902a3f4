import Kernels
import Layers

/// LLaVA: CLIP vision tower -> projector -> Llama, with LoRA adapters and soft prompts where
/// the trainable set puts them. Model code only: no files, no MPI (the ModelFiles module reads model directories).
public final class LlavaModel<T: KernelScalar>: @unchecked Sendable {
    public let config: LlavaConfig
    public let trainableSet: TrainableSet
    public let parameters: ParameterTable<T>
    /// Every base tensor, as the blueprints the model is built from describe them.
    public let modelDescription: ModelDescription
    public let vision: CLIPVisionTower<T>
    public let projector: Projector<T>
    public let language: LlamaModel<T>
    public let imagePrompt: Parameter<T>?   // (imageSoftPromptLength, hidden)
    public let textPrompt: Parameter<T>?    // (textSoftPromptLength, hidden)

    /// A model with every parameter zero; fill it with `load` or an initialiser.
    ///   halfWeights: frozen base weights that stay in 16-bit storage (ModelDirectory picks them:
    ///     2-D linear weights, embed_tokens, lm_head), widened per use; see WidenedWeightScratch
    ///   recompute: both towers re-run each layer's forward in the backward instead of keeping
    ///     every layer's activations (same gradients, bit for bit; one more forward of cost)
    public init(config: LlavaConfig, trainable: TrainableSet, halfWeights: [String: HalfMatrix] = [:], recompute: Bool = false) throws {
        self.config = config
        trainableSet = trainable
        let blueprint = LlavaBlueprint(config: config)
        modelDescription = blueprint.description
        let table = ParameterTable<T>(try blueprint.description.parameterSpecs(trainable: trainable, hidden: config.text.hiddenSize),
                                      halfWeights: halfWeights)
        parameters = table
        let alpha = trainable.lora?.alpha ?? 1
        vision = CLIPVisionTower(blueprint: blueprint.vision, config: config.vision, layersUsed: config.visionLayersUsed,
                                 keepClassToken: config.visionFeatureSelectStrategy == "full", loraAlpha: alpha, recompute: recompute,
                                 parameters: table)
        projector = Projector(blueprint: blueprint.projector, loraAlpha: alpha, parameters: table)
        language = LlamaModel(blueprint: blueprint.language, config: config.text, loraAlpha: alpha, loraDropout: trainable.lora?.dropout ?? 0,
                              recompute: recompute, parameters: table)
        imagePrompt = table.contains(SoftPromptName.image) ? table[SoftPromptName.image] : nil
        textPrompt = table.contains(SoftPromptName.text) ? table[SoftPromptName.text] : nil
    }

    public var hidden: Int { config.text.hiddenSize }
    public var imageTokens: Int { vision.featuresPerImage }

    /// Everything one forward keeps for its backward. A training step holds one Pass per
    /// forward it must differentiate (image tower, text tower); passes are reused across steps.
    public final class Pass: @unchecked Sendable {
        let visionTape = CLIPVisionTower<T>.Tape()
        let projectorTape = Projector<T>.Tape()
        let languageTape = LlamaModel<T>.Tape()
        let projected = GrowableBuffer<T>()    // (images * imageTokens, hidden)
        let inputs = GrowableBuffer<T>()       // (rows, hidden)
        let keyMask = GrowableArray<UInt8>()
        let positions = GrowableArray<Int32>()
        let rowKeys = GrowableArray<UInt64>()
        var features: UnsafeMutablePointer<T>?
        var imageCount = 0
        public private(set) var sequences = SequenceBatch(batch: 0, sequence: 0)
        public init() {}

        func layout(_ sequences: SequenceBatch) -> SequenceLayout {
            SequenceLayout(batch: sequences.batch, sequence: sequences.sequence,
                           keyMask: UnsafePointer(keyMask.pointer), positions: UnsafePointer(positions.pointer),
                           dropout: sequences.dropoutSeed.map { DropoutContext(seed: $0, rowKeys: UnsafePointer(rowKeys.pointer)) })
        }

        func set(_ sequences: SequenceBatch) {
            self.sequences = sequences
            let mask = keyMask.reserve(sequences.rows), positions = positions.reserve(sequences.rows)
            let keys = rowKeys.reserve(sequences.rows)
            for r in 0..<sequences.rows {
                mask[r] = sequences.keyMask[r]
                positions[r] = sequences.positions[r]
                keys[r] = sequences.rowKeys[r]
            }
        }
    }

    /// Runs images (if any) through vision tower and projector, assembles the input embeddings
    /// and runs the LLM. pixels: (imageCount, channels, size, size). Returns the final hidden
    /// states (rows, hidden), owned by the pass.
    public func forward(pixels: UnsafePointer<T>?, imageCount: Int, sequences: SequenceBatch, pass: Pass) -> UnsafeMutablePointer<T> {
        encodeImages(pixels: pixels, imageCount: pixels == nil ? 0 : imageCount, pass: pass)
        return forwardLanguage(sequences: sequences, pass: pass)
    }

    /// The first half of `forward`: images through the vision tower and projector, kept in the
    /// pass for the sequences' image rows. pixels: (imageCount, channels, size, size).
    public func encodeImages(pixels: UnsafePointer<T>?, imageCount: Int, pass: Pass) {
        pass.imageCount = imageCount
        let projected = pass.projected.reserve(max(imageCount * imageTokens, 1) * hidden)
        if let pixels, imageCount > 0 {
            let features = vision.forward(pixels: pixels, batch: imageCount, tape: pass.visionTape)
            pass.features = features
            projector.forward(features, rows: imageCount * imageTokens, into: projected, tape: pass.projectorTape)
        }
    }

    /// The second half of `forward`: assembles the input embeddings (image rows from the last
    /// `encodeImages` on this pass) and runs the LLM. Returns the final hidden states (rows,
    /// hidden), owned by the pass.
    public func forwardLanguage(sequences: SequenceBatch, pass: Pass) -> UnsafeMutablePointer<T> {
        pass.set(sequences)
        let inputs = pass.inputs.reserve(sequences.rows * hidden)
        assembleInputs(sequences, projected: pass.projected.pointer, imageRows: pass.imageCount * imageTokens, into: inputs)
        return language.forward(inputs, layout: pass.layout(sequences), tape: pass.languageTape)
    }

    /// Gathers each position's input embedding: a token's row of embed_tokens, an image
    /// feature, a soft prompt row, or zeros for padding.
    func assembleInputs(_ s: SequenceBatch, projected: UnsafePointer<T>, imageRows: Int, into x: UnsafeMutablePointer<T>) {
        let table = language.embedTokens, vocab = config.text.vocabSize, width = hidden
        for r in 0..<s.rows {
            let slot = Int(s.slots[r]), row = x + r * width
            switch s.kinds[r] {
            case .padding: row.update(repeating: 0, count: width)
            case .token:
                precondition(slot >= 0 && slot < vocab, "token id \(slot) outside the vocabulary of \(vocab)")
                table.copyRow(slot, into: row)   // widens just this row when the table is 16-bit
            case .image:
                precondition(slot >= 0 && slot < imageRows, "image feature row \(slot) of \(imageRows)")
                row.update(from: projected + slot * width, count: width)
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
        let needsInputGradient = imagePrompt != nil || textPrompt != nil || language.embedTokens.trainable
            || projector.needsBackward || vision.needsBackward
        let dInputs = needsInputGradient ? scratch.inputs.reserveZeroed(s.rows * width) : nil
        language.backward(dHidden, layout: pass.layout(s), dInputs: dInputs, tape: pass.languageTape,
                          scratch: scratch.stack, buffers: scratch.language)
        guard let dInputs else { return }
        let imageRows = pass.imageCount * imageTokens
        let dProjected = scratch.projected.reserveZeroed(max(imageRows, 1) * width)
        for r in 0..<s.rows {
            let slot = Int(s.slots[r]), row = dInputs + r * width
            let target: UnsafeMutablePointer<T>?
            switch s.kinds[r] {
            case .padding: target = nil
            case .token: target = language.embedTokens.gradient.map { $0 + slot * width }
            case .image: target = dProjected + slot * width
            case .imagePrompt: target = imagePrompt?.gradient.map { $0 + slot * width }
            case .textPrompt: target = textPrompt?.gradient.map { $0 + slot * width }
            }
            if let target { for i in 0..<width { target[i] += row[i] } }
        }
        guard imageRows > 0, projector.needsBackward || vision.needsBackward, let features = pass.features else { return }
        let dFeatures = vision.needsBackward ? scratch.features.reserveZeroed(imageRows * config.vision.hiddenSize) : nil
        projector.backward(dProjected, features: features, rows: imageRows, dFeatures: dFeatures,
                           tape: pass.projectorTape, scratch: scratch.stack.layer)
        if let dFeatures {
            vision.backward(dFeatures: dFeatures, batch: pass.imageCount, tape: pass.visionTape, scratch: scratch.stack,
                            buffers: scratch.vision)
        }
    }
}

/// Backward temporaries of the whole model, shared by all passes.
public final class ModelScratch<T: KernelScalar>: @unchecked Sendable {
    let inputs = GrowableBuffer<T>(), projected = GrowableBuffer<T>(), features = GrowableBuffer<T>()
    let stack = StackScratch<T>()
    let language = LanguageBackwardBuffers<T>()
    let vision = VisionBackwardBuffers<T>()
    public init() {}
}
