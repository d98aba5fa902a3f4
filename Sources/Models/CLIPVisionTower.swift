import Kernels
import Layers

/// CLIP's vision transformer as LLaVA uses it: patch embedding, class token, position
/// embedding, pre-LayerNorm, then only as many encoder layers as `vision_feature_layer` needs.
/// The post-LayerNorm and any later layers are loaded (strict loading) but never run.
public final class CLIPVisionTower<T: KernelScalar>: @unchecked Sendable {
    public let config: CLIPVisionConfig
    public let layersUsed: Int
    public let keepClassToken: Bool
    let classEmbedding: Parameter<T>      // (hidden)
    let patchEmbedding: Parameter<T>      // (hidden, channels, patch, patch)
    let positionEmbedding: Parameter<T>   // (numPatches + 1, hidden)
    let preNorm: Norm<T>
    let encoder: TransformerStack<T>

    /// The tower `blueprint` describes, reading its tensors from `p`. Adapters in the vision
    /// tower (an unusual choice) run without LoRA dropout, which acts in the language model.
    public init(blueprint: CLIPVisionBlueprint, config: CLIPVisionConfig, layersUsed: Int, keepClassToken: Bool, loraAlpha: Double,
                recompute: Bool = false, parameters p: ParameterTable<T>) {
        self.config = config
        needsBackward = p.trainsAny(of: blueprint.tensors)
        self.layersUsed = layersUsed
        self.keepClassToken = keepClassToken
        classEmbedding = p[blueprint.classEmbedding.name]
        patchEmbedding = p[blueprint.patchEmbedding.name]
        positionEmbedding = p[blueprint.positionEmbedding.name]
        preNorm = Norm(blueprint.preNorm, parameters: p)
        let lora = LoRABehaviour(alpha: loraAlpha, dropout: 0)
        let layers = blueprint.layers.map { TransformerLayer<T>($0, parameters: p, lora: lora, rotary: nil) }
        encoder = TransformerStack(layers: layers, hidden: config.hiddenSize, recompute: recompute)
        // A frozen tower is never differentiated: its forwards keep no attention probabilities.
        for layer in layers { layer.attention.savesProbabilities = needsBackward }
    }

    /// True when any parameter of the tower trains (LoRA adapters included), so it needs a backward.
    public let needsBackward: Bool

    /// Positions each image yields: patches, plus the class token with the "full" strategy.
    public var featuresPerImage: Int { config.numPatches + (keepClassToken ? 1 : 0) }

    public final class Tape: @unchecked Sendable {
        let patches = GrowableBuffer<T>()      // (batch * numPatches, channels * patch * patch)
        let embedded = GrowableBuffer<T>()     // (batch * (numPatches + 1), hidden): before pre-LayerNorm
        let normed = GrowableBuffer<T>()       // same, after it: the encoder input
        let features = GrowableBuffer<T>()     // (batch * featuresPerImage, hidden)
        let preNormTape = Norm<T>.Tape()
        let encoderTape = TransformerStack<T>.Tape()
        public init() {}
    }

    /// pixels: (batch, channels, imageSize, imageSize), normalised -> features
    /// (batch * featuresPerImage, hidden), owned by the tape.
    public func forward(pixels: UnsafePointer<T>, batch: Int, tape: Tape) -> UnsafeMutablePointer<T> {
        let hidden = config.hiddenSize, patches = config.numPatches, tokens = patches + 1
        let patchLength = config.numChannels * config.patchSize * config.patchSize
        let embedded = tape.embedded.reserve(batch * tokens * hidden)
        let patchOut = tape.normed.reserve(batch * tokens * hidden)  // borrowed for the patch rows
        patchEmbeddingForward(images: pixels, weight: patchEmbedding.value, patches: tape.patches.reserve(batch * patches * patchLength),
                              y: patchOut, batch: batch, channels: config.numChannels, height: config.imageSize,
                              width: config.imageSize, patch: config.patchSize, hidden: hidden)
        // embedded[b] = [class; patches[b]] + position embedding
        let classValues = classEmbedding.value, positionValues = positionEmbedding.value
        for b in 0..<batch {
            let row = embedded + b * tokens * hidden
            for i in 0..<hidden { row[i] = classValues[i] + positionValues[i] }
            for t in 1..<tokens {
                let source = patchOut + (b * patches + t - 1) * hidden, target = row + t * hidden
                let position = positionValues + t * hidden
                for i in 0..<hidden { target[i] = source[i] + position[i] }
            }
        }
        let normed = tape.normed.reserve(batch * tokens * hidden)
        preNorm.forward(embedded, rows: batch * tokens, into: normed, tape: tape.preNormTape)
        let layout = SequenceLayout(batch: batch, sequence: tokens)
        let output = encoder.forward(normed, layout: layout, layerCount: layersUsed, tape: tape.encoderTape)
        // "default" drops the class token; "full" keeps every position.
        let perImage = featuresPerImage, skip = tokens - perImage
        let features = tape.features.reserve(batch * perImage * hidden)
        for b in 0..<batch {
            (features + b * perImage * hidden).update(from: output + (b * tokens + skip) * hidden, count: perImage * hidden)
        }
        return features
    }

    /// Backward from dFeatures: (batch * featuresPerImage, hidden) into the trainable parameters.
    public func backward(dFeatures: UnsafePointer<T>, batch: Int, tape: Tape, scratch: StackScratch<T>,
                         buffers: VisionBackwardBuffers<T>) {
        let hidden = config.hiddenSize, patches = config.numPatches, tokens = patches + 1
        let perImage = featuresPerImage, skip = tokens - perImage
        let dOutput = buffers.output.reserveZeroed(batch * tokens * hidden)
        for b in 0..<batch {
            (dOutput + (b * tokens + skip) * hidden).update(from: dFeatures + b * perImage * hidden, count: perImage * hidden)
        }
        let layout = SequenceLayout(batch: batch, sequence: tokens)
        let dNormed = buffers.normed.reserveZeroed(batch * tokens * hidden)
        encoder.backward(dOutput, layout: layout, dx: dNormed, tape: tape.encoderTape, scratch: scratch)
        let dEmbedded = buffers.embedded.reserveZeroed(batch * tokens * hidden)
        preNorm.backward(dNormed, input: tape.embedded.pointer, rows: batch * tokens, dx: dEmbedded, tape: tape.preNormTape)
        // embedded = [class; patch rows] + position  =>  sums over the batch
        for b in 0..<batch {
            let row = dEmbedded + b * tokens * hidden
            if let dClass = classEmbedding.gradient { for i in 0..<hidden { dClass[i] += row[i] } }
            if let dPosition = positionEmbedding.gradient { for i in 0..<tokens * hidden { dPosition[i] += row[i] } }
        }
        guard let dWeight = patchEmbedding.gradient else { return }
        let dPatchOut = buffers.patchOut.reserve(batch * patches * hidden)
        for b in 0..<batch {
            (dPatchOut + b * patches * hidden).update(from: dEmbedded + (b * tokens + 1) * hidden, count: patches * hidden)
        }
        patchEmbeddingBackward(dy: dPatchOut, patches: tape.patches.pointer, weight: patchEmbedding.value, dWeight: dWeight,
                               dImages: nil, patchGradient: nil, batch: batch, channels: config.numChannels,
                               height: config.imageSize, width: config.imageSize, patch: config.patchSize, hidden: hidden)
    }
}

/// Gradient buffers of the vision backward (only used when something in the tower trains).
public final class VisionBackwardBuffers<T: KernelScalar>: @unchecked Sendable {
    let output = GrowableBuffer<T>(), normed = GrowableBuffer<T>(), embedded = GrowableBuffer<T>(), patchOut = GrowableBuffer<T>()
    public init() {}
}
