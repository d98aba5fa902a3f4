import Models

/// transformers' defaults for the decoder keys a config class leaves out, which differ by family
/// (LlamaConfig, Qwen2VLTextConfig).
struct DecoderDefaults {
    var vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads: Int
    /// nil: as many as the attention heads.
    var numKeyValueHeads: Int?
    var maxPositionEmbeddings: Int
    var rmsNormEps: Double
    var bosTokenId, eosTokenId: Int
    /// Llama's attention reads `head_dim`; Qwen2-VL's always divides hidden_size by the heads.
    var readsHeadDim: Bool

    static let llama = DecoderDefaults(vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numHiddenLayers: 32,
                                       numAttentionHeads: 32, numKeyValueHeads: nil, maxPositionEmbeddings: 2048,
                                       rmsNormEps: 1e-6, bosTokenId: 1, eosTokenId: 2, readsHeadDim: true)
    /// Qwen2VLTextConfig's class defaults (the 72B model's sizes).
    static let qwen2VL = DecoderDefaults(vocabSize: 152064, hiddenSize: 8192, intermediateSize: 29568, numHiddenLayers: 80,
                                         numAttentionHeads: 64, numKeyValueHeads: 8, maxPositionEmbeddings: 32768,
                                         rmsNormEps: 1e-5, bosTokenId: 151643, eosTokenId: 151645, readsHeadDim: false)
}

extension LlamaConfig {
    /// The keys every Llama-like decoder config shares, read with the family's defaults; the
    /// family's own keys (model_type, RoPE) are the caller's.
    init(decoderFields fields: ConfigObject, defaults: DecoderDefaults, ropeTheta: Double) throws {
        let hiddenSize = try fields.int("hidden_size", default: defaults.hiddenSize)
        let numAttentionHeads = try fields.int("num_attention_heads", default: defaults.numAttentionHeads)
        // transformers derives head_dim by floor division; here it must be exact (or given).
        var derivedHeadDim = 0
        if numAttentionHeads > 0 {
            derivedHeadDim = hiddenSize / numAttentionHeads
            if !(defaults.readsHeadDim && fields.isPresent("head_dim")) && hiddenSize % numAttentionHeads != 0 {
                let fix = defaults.readsHeadDim ? "fix the sizes or give head_dim explicitly" : "fix the sizes"
                throw ModelConfigError("\(fields.file): \(fields.key("hidden_size")) \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads); \(fix).")
            }
        }
        // An explicit null asks for one key/value head per attention head in every family.
        let keyValueHeads = fields.isNull("num_key_value_heads") ? numAttentionHeads : defaults.numKeyValueHeads ?? numAttentionHeads
        self.init(vocabSize: try fields.int("vocab_size", default: defaults.vocabSize), hiddenSize: hiddenSize,
                  intermediateSize: try fields.int("intermediate_size", default: defaults.intermediateSize),
                  numHiddenLayers: try fields.int("num_hidden_layers", default: defaults.numHiddenLayers),
                  numAttentionHeads: numAttentionHeads,
                  numKeyValueHeads: try fields.int("num_key_value_heads", default: keyValueHeads),
                  headDim: defaults.readsHeadDim ? try fields.int("head_dim", default: derivedHeadDim) : derivedHeadDim,
                  hiddenAct: try fields.string("hidden_act", default: "silu"),
                  maxPositionEmbeddings: try fields.int("max_position_embeddings", default: defaults.maxPositionEmbeddings),
                  rmsNormEps: try fields.double("rms_norm_eps", default: defaults.rmsNormEps),
                  ropeTheta: ropeTheta,
                  attentionBias: try fields.bool("attention_bias", default: false),
                  mlpBias: try fields.bool("mlp_bias", default: false),
                  tieWordEmbeddings: try fields.bool("tie_word_embeddings", default: false),
                  bosTokenId: try fields.int("bos_token_id", default: defaults.bosTokenId),
                  eosTokenId: try fields.int("eos_token_id", default: defaults.eosTokenId),
                  padTokenId: try fields.optionalInt("pad_token_id"))
    }
}
