import Kernels
import Layers

/// Qwen2-VL on the family seam: its vision transformer + patch merger as the vision encoder,
/// Qwen2 (Llama's blocks with q/k/v biases) with M-RoPE as the decoder.
extension Qwen2VLConfig: VisionLanguageConfig {
    public var modelType: String { "qwen2_vl" }
    public var decoder: LlamaConfig { text }
    public var hiddenSize: Int { text.hiddenSize }
    /// Qwen2-VL's chat markup around an image; the prompt builder expands the one
    /// <|image_pad|> to the image's token count.
    public var imageMarkup: String { "<|vision_start|><|image_pad|><|vision_end|>" }
    public var vocabularySize: Int { text.vocabSize }
    public var eosTokenID: Int { text.eosTokenId }
    public var maxPositions: Int { text.maxPositionEmbeddings }
    public var fixedImageSize: Int? { nil }

    public var fingerprintSettings: [String] {
        [
            "model_type qwen2_vl image_token_id \(imageTokenID) vision_start \(visionStartTokenID) vision_end \(visionEndTokenID)",
            "vision hidden_act \(vision.hiddenAct) mlp_ratio \(vision.mlpRatio) patch \(vision.patchSize) merge \(vision.spatialMergeSize) temporal \(vision.temporalPatchSize)",
            "text rms_norm_eps \(text.rmsNormEps) rope_theta \(text.ropeTheta) heads \(text.numAttentionHeads)/\(text.numKeyValueHeads) mrope_section \(mropeSection)",
            "tie_word_embeddings \(tieWordEmbeddings)",
        ]
    }

    /// The longest image side, in patches, an image within max_pixels can have (its other side
    /// is at least one merge window): what the vision rotary table covers.
    public var maxPatchSide: Int {
        let factor = vision.patchSize * vision.spatialMergeSize
        return max(maxPixels / (vision.patchSize * factor), vision.spatialMergeSize)
    }

    public func makeParts<T: KernelScalar>(parameters table: ParameterTable<T>, trainable: TrainableSet, recompute: Bool)
        -> (vision: any VisionEncoder<T>, language: LlamaModel<T>) {
        let blueprint = Qwen2VLBlueprint(config: self)
        let alpha = trainable.lora?.alpha ?? 1
        let encoder = Qwen2VLVisionEncoder(blueprint: blueprint, config: vision, maxPatchSide: maxPatchSide, loraAlpha: alpha,
                                           recompute: recompute, parameters: table)
        let language = LlamaModel(blueprint: blueprint.language, config: text, loraAlpha: alpha, loraDropout: trainable.lora?.dropout ?? 0,
                                  recompute: recompute, rotarySections: mropeSection, parameters: table)
        return (encoder, language)
    }
}
