import Foundation

/// A model directory's `config.json`, decoded with the defaults transformers applies to a missing
/// field, so a config that loads in transformers loads here with the same meaning.
public struct LlavaConfig: Sendable, Equatable {
    public var vision: CLIPVisionConfig
    public var text: LlamaConfig
    /// `image_token_index` (older files) or `image_token_id` (newer): the `<image>` placeholder id.
    public var imageTokenIndex: Int
    /// "gelu" (erf) in LLaVA-1.5.
    public var projectorHiddenAct: String
    public var projectorBias: Bool
    /// Which hidden state of the vision encoder feeds the projector: -2 is the penultimate layer.
    public var visionFeatureLayer: Int
    /// "default" drops the CLS position, "full" keeps it.
    public var visionFeatureSelectStrategy: String
    public var tieWordEmbeddings: Bool

    public init(vision: CLIPVisionConfig, text: LlamaConfig, imageTokenIndex: Int, projectorHiddenAct: String, projectorBias: Bool,
                visionFeatureLayer: Int, visionFeatureSelectStrategy: String, tieWordEmbeddings: Bool) {
        self.vision = vision
        self.text = text
        self.imageTokenIndex = imageTokenIndex
        self.projectorHiddenAct = projectorHiddenAct
        self.projectorBias = projectorBias
        self.visionFeatureLayer = visionFeatureLayer
        self.visionFeatureSelectStrategy = visionFeatureSelectStrategy
        self.tieWordEmbeddings = tieWordEmbeddings
    }

    /// Number of positions one image occupies in the LLM sequence.
    public var imageTokensPerImage: Int {
        let grid = vision.imageSize / vision.patchSize
        return grid * grid + (visionFeatureSelectStrategy == "full" ? 1 : 0)
    }

    /// Index into the vision encoder's hidden-state list (embeddings output = 0, layer i = i + 1),
    /// resolving negative indices the way Python does.
    public var visionFeatureHiddenStateIndex: Int {
        let count = vision.numHiddenLayers + 1
        return visionFeatureLayer < 0 ? count + visionFeatureLayer : visionFeatureLayer
    }

    /// How many encoder layers must run to produce the selected features (the rest are unused).
    public var visionLayersUsed: Int { visionFeatureHiddenStateIndex }
}

public struct CLIPVisionConfig: Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Double

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numChannels: Int,
                imageSize: Int, patchSize: Int, hiddenAct: String, layerNormEps: Double) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }
    public var numPatches: Int { (imageSize / patchSize) * (imageSize / patchSize) }
}

public struct LlamaConfig: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int
    public var eosTokenId: Int
    public var padTokenId: Int?

    public init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int, headDim: Int, hiddenAct: String, maxPositionEmbeddings: Int, rmsNormEps: Double,
                ropeTheta: Double, attentionBias: Bool, mlpBias: Bool, tieWordEmbeddings: Bool, bosTokenId: Int,
                eosTokenId: Int, padTokenId: Int?) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
    }
}

/// A config.json problem, naming the file, the key and what to do.
public struct ModelConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
