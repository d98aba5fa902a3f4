import Configuration

/// What one training step computes, from the resolved configuration.
package struct StepSettings: Sendable, Equatable {
    /// The captions the next-token loss reads (`loss.ntp_captions`).
    package typealias GenerativeCaptions = RunConfiguration.NTPCaptions
    package var contrastiveWeight: Double
    package var ntpWeight: Double
    package var ntpCaptions: GenerativeCaptions
    /// Up to this many hard negative captions per pair join the contrastive loss's text keys
    /// (NegCLIP); 0 = none.
    package var hardNegatives: Int
    package var softPrompts: Bool
    /// Pairs of the global batch that show the same image or the same short caption are not
    /// negatives of each other in the contrastive loss (`loss.mask_duplicates`).
    package var maskDuplicates: Bool
    /// Fixed log logit scale when it is not learned.
    package var fixedLogitScale: Double
    /// Pairs per forward/backward chunk on a rank (GradCache); 0 = the whole local batch.
    package var microBatch: Int
    /// Base of the LoRA dropout masks (the run's seed); each step mixes in its index.
    package var dropoutSeed: UInt64

    package init(contrastiveWeight: Double = 1, ntpWeight: Double = 1, ntpCaptions: GenerativeCaptions = .long,
                hardNegatives: Int = 0, maskDuplicates: Bool = true, softPrompts: Bool = true, fixedLogitScale: Double = 2.659260036932778,
                microBatch: Int = 0, dropoutSeed: UInt64 = 0) {
        self.maskDuplicates = maskDuplicates
        self.dropoutSeed = dropoutSeed
        self.contrastiveWeight = contrastiveWeight
        self.ntpWeight = ntpWeight
        self.ntpCaptions = ntpCaptions
        self.hardNegatives = hardNegatives
        self.softPrompts = softPrompts
        self.fixedLogitScale = fixedLogitScale
        self.microBatch = microBatch
    }
}

/// What a step measured, identical on every rank.
package struct StepResult: Sendable, Equatable {
    package var contrastiveLoss: Double
    package var ntpLoss: Double
    package var ntpTokens: Int
    /// (query, key) entries of the global contrastive loss left out as duplicates (0 without masking).
    package var maskedKeys: Int
    /// Weighted total: contrastive * weight + ntp * lambda.
    package var loss: Double
    /// Input positions processed by all ranks' forwards (for tokens/s).
    package var tokens: Int
    /// Analytic GEMM FLOPs of the step over all ranks (FlopEstimate).
    package var flops: Double
    package var timing: StepTiming
}

/// Seconds spent per phase on this rank: vision tower + projector forward, LLM forward (with
/// pooling and losses), LLM backward (and into the trainable inputs), and collectives (including
/// the wait for the slowest rank).
package struct StepTiming: Sendable, Equatable {
    package var vision = 0.0, forward = 0.0, backward = 0.0, communication = 0.0
    package init() {}
}
