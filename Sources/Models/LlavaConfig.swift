import Foundation

/// A model directory's `config.json`, decoded with the defaults transformers applies to a missing
/// field, so a config that loads in transformers loads here with the same meaning.
package struct LlavaConfig: Sendable, Equatable {
    package var vision: CLIPVisionConfig
    package var text: LlamaConfig
    /// `image_token_index` (older files) or `image_token_id` (newer): the `<image>` placeholder id.
    package var imageTokenIndex: Int
    /// "gelu" (erf) in LLaVA-1.5.
    package var projectorHiddenAct: String
    package var projectorBias: Bool
    /// Which hidden state of the vision encoder feeds the projector: -2 is the penultimate layer.
    package var visionFeatureLayer: Int
    /// "default" drops the CLS position, "full" keeps it.
    package var visionFeatureSelectStrategy: String
    package var tieWordEmbeddings: Bool

    package init(vision: CLIPVisionConfig, text: LlamaConfig, imageTokenIndex: Int, projectorHiddenAct: String, projectorBias: Bool,
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
    package var imageTokensPerImage: Int {
        let grid = vision.imageSize / vision.patchSize
        return grid * grid + (visionFeatureSelectStrategy == "full" ? 1 : 0)
    }

    /// Index into the vision encoder's hidden-state list (embeddings output = 0, layer i = i + 1),
    /// resolving negative indices the way Python does.
    package var visionFeatureHiddenStateIndex: Int {
        let count = vision.numHiddenLayers + 1
        return visionFeatureLayer < 0 ? count + visionFeatureLayer : visionFeatureLayer
    }

    /// How many encoder layers must run to produce the selected features (the rest are unused).
    package var visionLayersUsed: Int { visionFeatureHiddenStateIndex }
}

package struct CLIPVisionConfig: Sendable, Equatable {
    package var hiddenSize: Int
    package var intermediateSize: Int
    package var numHiddenLayers: Int
    package var numAttentionHeads: Int
    package var numChannels: Int
    package var imageSize: Int
    package var patchSize: Int
    package var hiddenAct: String
    package var layerNormEps: Double

    package init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numChannels: Int,
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

    package var headDim: Int { hiddenSize / numAttentionHeads }
    package var numPatches: Int { (imageSize / patchSize) * (imageSize / patchSize) }
}

package struct LlamaConfig: Sendable, Equatable {
    package var vocabSize: Int
    package var hiddenSize: Int
    package var intermediateSize: Int
    package var numHiddenLayers: Int
    package var numAttentionHeads: Int
    package var numKeyValueHeads: Int
    package var headDim: Int
    package var hiddenAct: String
    package var maxPositionEmbeddings: Int
    package var rmsNormEps: Double
    package var ropeTheta: Double
    package var attentionBias: Bool
    package var mlpBias: Bool
    package var tieWordEmbeddings: Bool
    package var bosTokenId: Int
    package var eosTokenId: Int
    package var padTokenId: Int?

    package init(vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
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
package struct ModelConfigError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
