import Foundation
import Kernels
import Layers

/// LLaVA's blueprint: CLIP tower, projector, Llama decoder, under the classic hub layout's names.
public struct LlavaBlueprint: Sendable, Equatable {
    public let vision: CLIPVisionBlueprint
    public let projector: ProjectorBlueprint
    public let language: DecoderBlueprint

    public init(config: LlavaConfig) {
        vision = CLIPVisionBlueprint(config: config.vision)
        projector = ProjectorBlueprint(config: config)
        language = DecoderBlueprint(config: config.text, modulePrefix: "language_model.model.", head: "language_model.lm_head")
    }

    /// The classic hub layout's order: vision tower, projector, language model, untied head.
    public var description: ModelDescription {
        ModelDescription(vision: vision.tensors, connector: projector.tensors, language: language, keyLayout: .llava)
    }
}

/// LLaVA's multi-modal projector: linear_1 (vision width -> LLM width), activation, linear_2.
public struct ProjectorBlueprint: Sendable, Equatable {
    public let linear1: LinearBlueprint
    public let activation: ActivationFunction
    public let linear2: LinearBlueprint

    public init(config: LlavaConfig) {
        let width = config.text.hiddenSize
        linear1 = LinearBlueprint("multi_modal_projector.linear_1", out: width, in: config.vision.hiddenSize, bias: config.projectorBias)
        activation = ActivationFunction(huggingFaceName: config.projectorHiddenAct)!  // validated when config.json is read
        linear2 = LinearBlueprint("multi_modal_projector.linear_2", out: width, in: width, bias: config.projectorBias)
    }

    public var tensors: [TensorBlueprint] { linear1.tensors + linear2.tensors }
}

extension LlavaConfig {
    /// Every base tensor of the model, described once (LlavaBlueprint).
    public var modelDescription: ModelDescription { LlavaBlueprint(config: self).description }

    /// Every parameter of the model for a trainable set (ModelDescription.parameterSpecs).
    public func parameterSpecs(trainable: TrainableSet) throws -> [ParameterSpec] {
        try modelDescription.parameterSpecs(trainable: trainable, hidden: text.hiddenSize)
    }
}
