import Kernels
import Layers

/// What one model family's config.json tells the rest of Discern, and how the family builds
/// its model: the seam a new family plugs into (docs/model.md, "Adding a model family").
/// Training, evaluation, export and the benchmark see only this and VisionLanguageModel.
public protocol VisionLanguageConfig: Sendable {
    /// config.json's `model_type` (e.g. "llava").
    var modelType: String { get }
    /// Every base tensor, described once by the blueprints the model is built from.
    var modelDescription: ModelDescription { get }
    /// The language decoder's sizes (Llama's arithmetic: LLaVA's Llama, Qwen2).
    var decoder: LlamaConfig { get }
    /// The language model's width: soft prompt rows, embeddings.
    var hiddenSize: Int { get }
    var vocabularySize: Int { get }
    /// The id the tokenizer gives the image placeholder the prompt builder expands.
    var imageTokenID: Int { get }
    /// What `<image>` in a prompt template becomes before tokenising: the family's image
    /// markup, holding the image token once (docs/model.md, "Prompts").
    var imageMarkup: String { get }
    var eosTokenID: Int { get }
    /// The longest sequence the rotary tables cover.
    var maxPositions: Int { get }
    /// The side of the square every image is resized to; nil for dynamic-resolution families
    /// (each image keeps its own, bounded size).
    var fixedImageSize: Int? { get }
    /// The settings besides tensor names and shapes that change what the model computes: a
    /// checkpoint trained on one base refuses to resume on another (BaseFingerprint).
    var fingerprintSettings: [String] { get }

    /// The vision encoder and language decoder reading `parameters` (which holds every tensor
    /// of `modelDescription` plus the adapters `trainable` asks for).
    func makeParts<T: KernelScalar>(parameters: ParameterTable<T>, trainable: TrainableSet, recompute: Bool)
        -> (vision: any VisionEncoder<T>, language: LlamaModel<T>)
}
