import Kernels
import Layers

/// LLaVA-1.5 on the family seam: CLIP + projector as the vision encoder, Llama as the decoder.
extension LlavaConfig: VisionLanguageConfig {
    public var modelType: String { "llava" }
    public var decoder: LlamaConfig { text }
    public var hiddenSize: Int { text.hiddenSize }
    public var imageMarkup: String { "<image>" }
    public var vocabularySize: Int { text.vocabSize }
    public var imageTokenID: Int { imageTokenIndex }
    public var eosTokenID: Int { text.eosTokenId }
    public var maxPositions: Int { text.maxPositionEmbeddings }
    public var fixedImageSize: Int? { vision.imageSize }

    public var fingerprintSettings: [String] {
        [
            "image_token_index \(imageTokenIndex)",
            "vision_feature_layer \(visionFeatureLayer)",
            "vision_feature_select_strategy \(visionFeatureSelectStrategy)",
            "projector_hidden_act \(projectorHiddenAct)",
            "vision hidden_act \(vision.hiddenAct) layer_norm_eps \(vision.layerNormEps)",
            "text rms_norm_eps \(text.rmsNormEps) rope_theta \(text.ropeTheta) heads \(text.numAttentionHeads)/\(text.numKeyValueHeads)",
            "tie_word_embeddings \(tieWordEmbeddings)",
        ]
    }

    public func makeParts<T: KernelScalar>(parameters table: ParameterTable<T>, trainable: TrainableSet, recompute: Bool)
        -> (vision: any VisionEncoder<T>, language: LlamaModel<T>) {
        let blueprint = LlavaBlueprint(config: self)
        let alpha = trainable.lora?.alpha ?? 1
        let tower = CLIPVisionTower(blueprint: blueprint.vision, config: vision, layersUsed: visionLayersUsed,
                                    keepClassToken: visionFeatureSelectStrategy == "full", loraAlpha: alpha, recompute: recompute,
                                    parameters: table)
        let projector = Projector(blueprint: blueprint.projector, loraAlpha: alpha, parameters: table)
        let language = LlamaModel(blueprint: blueprint.language, config: text, loraAlpha: alpha, loraDropout: trainable.lora?.dropout ?? 0,
                                  recompute: recompute, parameters: table)
        return (LlavaVisionEncoder(tower: tower, projector: projector, languageWidth: text.hiddenSize), language)
    }
}
