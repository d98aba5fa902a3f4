import Models

/// Analytic floating-point operations of the model's passes (docs/performance.md), counting a
/// multiply-add as 2 FLOPs. Only GEMM work is counted: it is what the CPU's ceiling measures.
/// Family-neutral: the vision encoder counts its own work per image (VisionEncoder.multiplyAdds),
/// the decoder's is read off its config here.
package struct FlopEstimate: Sendable {
    let language: LlamaConfig

    package init(language: LlamaConfig) { self.language = language }

    package init<T>(model: VisionLanguageModel<T>) { self.init(language: model.language.config) }

    /// Multiply-adds of `batch` sequences of `length` positions through the decoder (attention
    /// is computed over the full square, as the kernel does).
    package func languageMACs(batch: Int, length: Int) -> Double {
        let t = language
        let d = Double(t.hiddenSize), q = Double(t.numAttentionHeads * t.headDim), kv = Double(t.numKeyValueHeads * t.headDim)
        let perToken = 2 * d * q + 2 * d * kv + 3 * d * Double(t.intermediateSize)
        let tokens = Double(batch * length)
        return Double(t.numHiddenLayers) * (tokens * perToken + Double(batch) * 2 * Double(length * length) * q)
    }

    /// Multiply-adds of the output head on `rows` positions.
    package func headMACs(rows: Int) -> Double { Double(rows) * Double(language.vocabSize * language.hiddenSize) }

    /// FLOPs of a forward plus, when `backward`, the backward's input-gradient products (and
    /// weight-gradient products when base weights train: `fullModel`).
    package static func flops(macs: Double, backward: Bool, fullModel: Bool) -> Double {
        2 * macs * (1 + (backward ? 1 : 0) + (backward && fullModel ? 1 : 0))
    }
}
