/// What a Hugging Face Qwen2-VL config.json says (model_type "qwen2_vl"), the values Discern
/// computes with. The ModelFiles module reads and validates it (both the nested transformers 5
/// form and the older flat hub form).
public struct Qwen2VLConfig: Sendable, Equatable {
    public var vision: Qwen2VLVisionConfig
    /// The Qwen2 decoder: Llama's arithmetic with biases on q, k and v (not o) and M-RoPE.
    public var text: LlamaConfig
    /// Rotary angles per position stream (time, height, width); sums to text.headDim / 2.
    public var mropeSection: [Int]
    public var imageTokenID: Int
    public var videoTokenID: Int
    public var visionStartTokenID: Int
    public var visionEndTokenID: Int
    public var tieWordEmbeddings: Bool
    /// The image processor's max_pixels (preprocessor_config.json; transformers' default here):
    /// it bounds every image's grid, hence the vision rotary table.
    public var maxPixels: Int = 12_845_056

    public init(vision: Qwen2VLVisionConfig, text: LlamaConfig, mropeSection: [Int], imageTokenID: Int, videoTokenID: Int,
                visionStartTokenID: Int, visionEndTokenID: Int, tieWordEmbeddings: Bool) {
        self.vision = vision
        self.text = text
        self.mropeSection = mropeSection
        self.imageTokenID = imageTokenID
        self.videoTokenID = videoTokenID
        self.visionStartTokenID = visionStartTokenID
        self.visionEndTokenID = visionEndTokenID
        self.tieWordEmbeddings = tieWordEmbeddings
    }
}

/// Qwen2-VL's vision transformer (transformers' Qwen2VLVisionConfig).
public struct Qwen2VLVisionConfig: Sendable, Equatable {
    public var depth: Int
    /// The blocks' width.
    public var embedDim: Int
    /// The merger's output width: the language model's hidden size.
    public var hiddenSize: Int
    public var numHeads: Int
    public var mlpRatio: Double
    public var patchSize: Int
    public var spatialMergeSize: Int
    public var temporalPatchSize: Int
    public var inChannels: Int
    /// The blocks' MLP activation ("quick_gelu" in every released checkpoint).
    public var hiddenAct: String

    public init(depth: Int, embedDim: Int, hiddenSize: Int, numHeads: Int, mlpRatio: Double, patchSize: Int,
                spatialMergeSize: Int, temporalPatchSize: Int, inChannels: Int, hiddenAct: String) {
        self.depth = depth
        self.embedDim = embedDim
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.mlpRatio = mlpRatio
        self.patchSize = patchSize
        self.spatialMergeSize = spatialMergeSize
        self.temporalPatchSize = temporalPatchSize
        self.inChannels = inChannels
        self.hiddenAct = hiddenAct
    }

    public var headDim: Int { embedDim / numHeads }
    /// transformers: int(embed_dim * mlp_ratio).
    public var mlpWidth: Int { Int(Double(embedDim) * mlpRatio) }
    /// Values of one flattened patch row: channels x temporal x patch x patch.
    public var patchLength: Int { inChannels * temporalPatchSize * patchSize * patchSize }
    /// Patches one LLM token merges (merge x merge).
    public var mergeWindow: Int { spatialMergeSize * spatialMergeSize }
    /// The merger's input width: a window's patch rows side by side.
    public var mergedWidth: Int { embedDim * mergeWindow }
}
