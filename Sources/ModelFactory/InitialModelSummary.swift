import Foundation
import Images
import ModelFiles
import Models

/// What `writeInitialModel` or `writeInitialQwen2VLModel` wrote.
package struct InitialModelSummary: Sendable {
    package let directory: String
    /// The written config.json (and preprocessor_config.json), as loading read them back.
    package let family: ModelFamily
    package let parameters: ParameterCounts
    package var llava: LlavaConfig? {
        if case .llava(let config) = family { return config }
        return nil
    }

    /// What `discern init-model` prints about the model, one line a part.
    package func lines(seed: UInt64) -> [String] {
        let p = parameters
        func millions(_ count: Int) -> String { String(format: "%9d (%.2fM)", count, Double(count) / 1e6) }
        switch family {
        case .llava(let c):
            return [
                "vision     \(millions(p.vision))  CLIP \(c.vision.hiddenSize) wide, \(c.vision.numHiddenLayers) layers (\(c.visionLayersUsed) used), \(c.vision.imageSize)px / patch \(c.vision.patchSize) = \(c.imageTokensPerImage) image tokens",
                "projector  \(millions(p.connector))  \(c.vision.hiddenSize) -> \(c.text.hiddenSize) -> \(c.text.hiddenSize), \(c.projectorHiddenAct)",
                "language   \(millions(p.language))  Llama \(c.text.hiddenSize) wide, \(c.text.numHiddenLayers) layers, \(c.text.numAttentionHeads) heads / \(c.text.numKeyValueHeads) kv, vocab \(c.text.vocabSize)",
                "total      \(millions(p.total))  float32, seed \(seed), <image> = \(c.imageTokenIndex)",
            ]
        case .qwen2VL(let c, let images):
            let v = c.vision, t = c.text, factor = images.factor, pixelsPerToken = factor * factor
            return [
                "vision     \(millions(p.vision))  Qwen2-VL ViT \(v.embedDim) wide, \(v.depth) blocks, \(v.numHeads) heads, patch \(v.patchSize) x \(v.temporalPatchSize) frames",
                "merger     \(millions(p.connector))  \(v.spatialMergeSize) x \(v.spatialMergeSize) patches -> \(v.mergedWidth) -> \(v.hiddenSize): one token per \(factor) x \(factor) pixels",
                "language   \(millions(p.language))  Qwen2 \(t.hiddenSize) wide, \(t.numHiddenLayers) layers, \(t.numAttentionHeads) heads / \(t.numKeyValueHeads) kv, M-RoPE \(c.mropeSection), vocab \(t.vocabSize)\(c.tieWordEmbeddings ? ", tied head" : "")",
                "images     each at its own size: sides rounded to multiples of \(factor), \(images.minPixels) to \(images.maxPixels) pixels (\(images.minPixels / pixelsPerToken) to \(images.maxPixels / pixelsPerToken) tokens)",
                "total      \(millions(p.total))  float32, seed \(seed), <|image_pad|> = \(c.imageTokenID)",
            ]
        }
    }
}
