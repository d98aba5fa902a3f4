import Kernels
import Layers

/// The Llama decoder as LLaVA embeds it: causal grouped-query attention with RoPE, gated SiLU
/// MLPs, a final RMSNorm and the output head (tied to the token embeddings or not). It works
/// on input embeddings the caller assembled (tokens, image features, soft prompts).
public final class LlamaModel<T: KernelScalar>: @unchecked Sendable {
    public let config: LlamaConfig
    public let embedTokens: Parameter<T>   // (vocab, hidden)
    let decoder: TransformerStack<T>
    let finalNorm: Norm<T>
    public let lmHead: Linear<T>           // weight (vocab, hidden): lm_head, or embed_tokens when tied
    public let rotary: RotaryTable<T>

    /// rotarySections: M-RoPE's angles per position stream (Qwen2-VL's mrope_section); nil for
    /// plain RoPE over one stream.
    public init(blueprint: DecoderBlueprint, config: LlamaConfig, loraAlpha: Double, loraDropout: Double = 0, recompute: Bool = false,
                rotarySections: [Int]? = nil, parameters p: ParameterTable<T>) {
        self.config = config
        embedTokens = p[blueprint.embedTokens.name]
        let rotary = RotaryTable<T>(headDim: config.headDim, maxPositions: config.maxPositionEmbeddings,
                                    inverseFrequencies: rotaryInverseFrequencies(headDim: config.headDim, theta: config.ropeTheta),
                                    sections: rotarySections ?? [config.headDim / 2])
        self.rotary = rotary
        let lora = LoRABehaviour(alpha: loraAlpha, dropout: loraDropout)
        let layers = blueprint.layers.map { TransformerLayer<T>($0, parameters: p, lora: lora, rotary: rotary) }
        decoder = TransformerStack(layers: layers, hidden: config.hiddenSize, recompute: recompute)
        finalNorm = Norm(blueprint.finalNorm, parameters: p)
        lmHead = blueprint.lmHead.map { Linear($0, parameters: p, lora: lora) } ?? Linear(weight: embedTokens, bias: nil, lora: nil)
    }

    public var hidden: Int { config.hiddenSize }

    public final class Tape: @unchecked Sendable {
        let decoderTape = TransformerStack<T>.Tape()
        let finalNormTape = Norm<T>.Tape()
        let output = GrowableBuffer<T>()   // (rows, hidden): the final hidden states (after the last RMSNorm)
        var decoderOutput: UnsafeMutablePointer<T>?
        public init() {}
    }

    /// inputs: (rows, hidden) assembled input embeddings -> the final hidden states (rows,
    /// hidden) after the last RMSNorm (transformers' `hidden_states[-1]`), owned by the tape.
    public func forward(_ inputs: UnsafePointer<T>, layout: SequenceLayout, tape: Tape) -> UnsafeMutablePointer<T> {
        let decoded = decoder.forward(inputs, layout: layout, tape: tape.decoderTape)
        tape.decoderOutput = decoded
        let output = tape.output.reserve(layout.rows * hidden)
        finalNorm.forward(decoded, rows: layout.rows, into: output, tape: tape.finalNormTape)
        return output
    }

    /// dHidden: (rows, hidden) gradient of the final hidden states. dInputs: (rows, hidden) +=
    /// gradient of the input embeddings, or nil when nothing upstream trains.
    public func backward(_ dHidden: UnsafePointer<T>, layout: SequenceLayout, dInputs: UnsafeMutablePointer<T>?,
                         tape: Tape, scratch: StackScratch<T>, buffers: LanguageBackwardBuffers<T>) {
        guard let decoded = tape.decoderOutput else { preconditionFailure("LlamaModel.backward before forward") }
        let dDecoded = buffers.decoded.reserveZeroed(layout.rows * hidden)
        finalNorm.backward(dHidden, input: decoded, rows: layout.rows, dx: dDecoded, tape: tape.finalNormTape)
        decoder.backward(dDecoded, layout: layout, dx: dInputs, tape: tape.decoderTape, scratch: scratch)
    }
}

public final class LanguageBackwardBuffers<T: KernelScalar>: @unchecked Sendable {
    let decoded = GrowableBuffer<T>()
    public init() {}
}
