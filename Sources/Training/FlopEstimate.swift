import Models

/// Analytic floating-point operations of the model's passes (docs/performance.md), counting a
/// multiply-add as 2 FLOPs. Only GEMM work is counted: it is what the CPU's ceiling measures.
package struct FlopEstimate: Sendable {
    let config: LlavaConfig
    let imageFeatures: Int

    package init(config: LlavaConfig, imageFeatures: Int) {
        self.config = config
        self.imageFeatures = imageFeatures
    }

    /// Multiply-adds of one image through the vision layers LLaVA uses and the projector.
    package var visionMACsPerImage: Double {
        let v = config.vision, t = config.text
        let tokens = Double(v.numPatches + 1), d = Double(v.hiddenSize), inter = Double(v.intermediateSize)
        let patch = Double(v.numPatches) * Double(v.numChannels * v.patchSize * v.patchSize) * d
        let perLayer = tokens * (4 * d * d + 2 * d * inter) + 2 * tokens * tokens * d
        let projector = Double(imageFeatures) * (d * Double(t.hiddenSize) + Double(t.hiddenSize * t.hiddenSize))
        return patch + Double(config.visionLayersUsed) * perLayer + projector
    }

    /// Multiply-adds of `batch` sequences of `length` positions through the decoder (attention
    /// is computed over the full square, as the kernel does).
    package func languageMACs(batch: Int, length: Int) -> Double {
        let t = config.text
        let d = Double(t.hiddenSize), q = Double(t.numAttentionHeads * t.headDim), kv = Double(t.numKeyValueHeads * t.headDim)
        let perToken = 2 * d * q + 2 * d * kv + 3 * d * Double(t.intermediateSize)
        let tokens = Double(batch * length)
        return Double(t.numHiddenLayers) * (tokens * perToken + Double(batch) * 2 * Double(length * length) * q)
    }

    /// Multiply-adds of the output head on `rows` positions.
    package func headMACs(rows: Int) -> Double { Double(rows) * Double(config.text.vocabSize * config.text.hiddenSize) }

    /// FLOPs of a forward plus, when `backward`, the backward's input-gradient products (and
    /// weight-gradient products when base weights train: `fullModel`).
    package static func flops(macs: Double, backward: Bool, fullModel: Bool) -> Double {
        2 * macs * (1 + (backward ? 1 : 0) + (backward && fullModel ? 1 : 0))
    }
}
