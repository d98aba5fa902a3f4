import Foundation
import Formats
import Kernels
import Layers
import ModelFiles
import Models
import Objectives
import TestSupport
import XCTest

/// LoRA (non-zero B, PEFT layout) + soft prompts + learnable logit scale against PEFT: the
/// embeddings, the contrastive and next-token losses, and the gradient of their sum with respect
/// to every LoRA tensor, both soft prompts and the logit scale.
final class AdapterParityTests: XCTestCase {
    typealias Fixture = TransformersParityTests.Fixture

    static func run<T: KernelScalar>(_ name: String, _: T.Type, embeddingAbs: Double, relative: Double, gradient: Double) throws {
        try withAdaptedModel(name, T.self) { model, images, passes, doubles in
            try checkAdaptedModel(model, name: name, images: images, passes: passes, fixture: doubles,
                                  tolerances: (embeddingAbs, relative, gradient))
        }
    }

    /// The fixture's adapted model (LoRA on the seven projections, both soft prompts) loaded
    /// under `memory`, its images and its image / text / next-token passes.
    static func withAdaptedModel<T: KernelScalar>(_ name: String, _: T.Type, memory: ModelMemoryOptions = ModelMemoryOptions(),
                                                  _ body: (VisionLanguageModel<T>, ImageBatch<T>, AdaptedPasses, (String) throws -> [Double]) throws -> Void) throws {
        let fixture = try Fixture(name)
        let config = fixture.directory.llava!
        let probe: VisionLanguageModel<T> = try fixture.directory.loadModel()
        let prompts = try PromptBuilder(encoder: try fixture.directory.tokenizer(), templates: PromptTemplates(),
                                        imageTokenID: config.imageTokenIndex, eosTokenID: config.text.eosTokenId,
                                        imageTokens: probe.imageTokens, maxPositions: config.text.maxPositionEmbeddings)
        let trainable = TrainableSet(lora: LoRASettings(rank: fixture.loraRank, alpha: fixture.loraAlpha),
                                     imageSoftPromptLength: prompts.imageSuffixIDs.count, textSoftPromptLength: prompts.textSuffixIDs.count)
        let model: VisionLanguageModel<T> = try fixture.directory.loadModel(trainable: trainable, memory: memory)
        XCTAssertEqual(model.parameters.trainable.count, config.text.numHiddenLayers * 7 * 2 + 2, "LoRA on the LLM's seven projections plus two soft prompts")
        let images = fixture.captions.count
        let pixels = try fixture.doubles("pixels").map { T($0) }
        let imageSequences = SequenceBatch(items: try (0..<images).map { try prompts.imageItem(imageIndex: $0, softPrompt: true).item })
        let textSequences = SequenceBatch(items: try fixture.captions.map { try prompts.textItem(caption: $0, softPrompt: true) })
        let ntpItems = try (0..<images).map { try prompts.imageItem(imageIndex: $0, softPrompt: true, longCaption: fixture.longCaptions[$0]) }
        let ntpSequences = SequenceBatch(items: ntpItems.map(\.item), poolIndices: ntpItems.map(\.poolIndex))
        let expectedTargets = try fixture.ints("ntp_targets")
        XCTAssertEqual(ntpSequences.targets, expectedTargets.values, "\(name): next-token targets")
        try pixels.withUnsafeBufferPointer { p in
            try body(model, ImageBatch(pixels: p.baseAddress!, count: images), (imageSequences, textSequences, ntpSequences), fixture.doubles)
        }
    }

    func testAdaptersMatchPEFTInDouble() throws {
        for name in ["gqa", "mha"] {
            try Self.run(name, Double.self, embeddingAbs: TransformersParityTests.doubleEmbeddingAbs,
                    relative: TransformersParityTests.doubleRelative, gradient: TransformersParityTests.doubleGradient)
        }
    }

    func testAdaptersMatchPEFTInFloat() throws {
        for name in ["gqa", "mha"] {
            try Self.run(name, Float.self, embeddingAbs: TransformersParityTests.floatEmbeddingAbs,
                    relative: TransformersParityTests.floatRelative, gradient: TransformersParityTests.floatGradient)
        }
    }
}

/// What the adapted model computes on the fixture's passes: both embeddings, both losses, the
/// gradient of contrastive + 1.0 * NTP with respect to every trainable tensor, and the logit
/// scale's gradient. Adapter values and the logit scale come from the fixture ("adapted." + name).
typealias AdaptedPasses = (image: SequenceBatch, text: SequenceBatch, ntp: SequenceBatch)

struct AdaptedOutputs {
    var imageEmbeddings: [Double], textEmbeddings: [Double]
    var contrastive: Double, ntp: Double
    var gradients: [(name: String, values: [Double])]
    var logitScaleGradient: Double

    /// Largest error against `other` (the reference): embeddings in max abs, losses relative,
    /// gradients relative to each tensor's largest component, the worst tensor's.
    func errors(against other: AdaptedOutputs) -> (embeddingAbs: Double, lossRelative: Double, gradient: Double) {
        let embedding = zip(imageEmbeddings + textEmbeddings, other.imageEmbeddings + other.textEmbeddings).map { abs($0 - $1) }.max() ?? 0
        let loss = max(abs(contrastive - other.contrastive) / abs(other.contrastive), abs(ntp - other.ntp) / abs(other.ntp))
        let gradient = zip(gradients, other.gradients).map { maxRelativeError($0.values, $1.values) }.max() ?? 0
        return (embedding, loss, max(gradient, abs(logitScaleGradient - other.logitScaleGradient) / abs(other.logitScaleGradient)))
    }

    /// The twin's values, under the fixture's names.
    init(fixture doubles: (String) throws -> [Double], trainable names: [String]) throws {
        imageEmbeddings = try doubles("adapted.image_embeddings")
        textEmbeddings = try doubles("adapted.text_embeddings")
        contrastive = try doubles("adapted.contrastive_loss")[0]
        ntp = try doubles("adapted.ntp_loss")[0]
        gradients = try names.map { ($0, try doubles("grad." + $0)) }
        logitScaleGradient = try doubles("grad.logit_scale")[0]
    }

    init<T: KernelScalar>(_ model: VisionLanguageModel<T>, images: ImageBatch<T>,
                          passes: (image: SequenceBatch, text: SequenceBatch, ntp: SequenceBatch),
                          fixture doubles: (String) throws -> [Double]) throws {
        for parameter in model.parameters.trainable {
            let values = try doubles("adapted." + parameter.name)
            XCTAssertEqual(values.count, parameter.count, parameter.name)
            for i in 0..<parameter.count { parameter.value[i] = T(values[i]) }
        }
        let logitScale = T(try doubles("adapted.logit_scale")[0])
        let (imageSequences, textSequences, ntpSequences) = passes
        let count = imageSequences.batch, width = model.hidden
        let imagePass = VisionLanguageModel<T>.Pass(), textPass = VisionLanguageModel<T>.Pass(), ntpPass = VisionLanguageModel<T>.Pass()
        let imagePooling = EmbeddingPooling<T>(), textPooling = EmbeddingPooling<T>(), ntpLoss = NextTokenLoss<T>()
        let imageHidden = model.forward(images: images, sequences: imageSequences, pass: imagePass)
        let imageEmbeddings = imagePooling.forward(imageHidden, sequences: imageSequences, width: width)
        let textHidden = model.forward(images: nil, sequences: textSequences, pass: textPass)
        let textEmbeddings = textPooling.forward(textHidden, sequences: textSequences, width: width)
        let ntpHidden = model.forward(images: images, sequences: ntpSequences, pass: ntpPass)
        let ntpResult = ntpLoss.forward(ntpHidden, sequences: ntpSequences, head: model.language.lmHead)

        func values(_ p: UnsafeMutablePointer<T>, _ n: Int) -> [Double] { UnsafeBufferPointer(start: p, count: n).map { Double($0) } }
        self.imageEmbeddings = values(imageEmbeddings, count * width)
        self.textEmbeddings = values(textEmbeddings, count * width)
        let dImages = Buffer<T>(count: count * width), dTexts = Buffer<T>(count: count * width)
        let result = ContrastiveLoss<T>().forwardBackward(
            images: imageEmbeddings, texts: textEmbeddings, total: count, dim: width, offset: 0, count: count,
            logitScale: logitScale, dImages: dImages.pointer, dTexts: dTexts.pointer)
        contrastive = result.localLoss
        ntp = ntpResult.loss
        logitScaleGradient = result.logitScaleGradient

        // Backward of contrastive + 1.0 * NTP through all three passes.
        model.parameters.zeroGradients()
        let scratch = ModelScratch<T>(), poolScratch = GrowableBuffer<T>()
        let dImageHidden = Buffer<T>(count: imageSequences.rows * width)
        imagePooling.backward(dImages.pointer, sequences: imageSequences, width: width, dHidden: dImageHidden.pointer, scratch: poolScratch)
        model.backward(dImageHidden.pointer, pass: imagePass, scratch: scratch)
        let dTextHidden = Buffer<T>(count: textSequences.rows * width)
        textPooling.backward(dTexts.pointer, sequences: textSequences, width: width, dHidden: dTextHidden.pointer, scratch: poolScratch)
        model.backward(dTextHidden.pointer, pass: textPass, scratch: scratch)
        let dNTPHidden = Buffer<T>(count: ntpSequences.rows * width)
        ntpLoss.backward(scale: 1, head: model.language.lmHead, dHidden: dNTPHidden.pointer, scratch: poolScratch)
        model.backward(dNTPHidden.pointer, pass: ntpPass, scratch: scratch)
        gradients = model.parameters.trainable.map { ($0.name, values($0.gradient!, $0.count)) }
    }
}

/// The adapted model against PEFT, for any family (AdaptedOutputs against the fixture's values).
func checkAdaptedModel<T: KernelScalar>(_ model: VisionLanguageModel<T>, name: String, images: ImageBatch<T>,
                                        passes: (image: SequenceBatch, text: SequenceBatch, ntp: SequenceBatch),
                                        fixture doubles: (String) throws -> [Double],
                                        tolerances: (embeddingAbs: Double, relative: Double, gradient: Double)) throws {
    let actual = try AdaptedOutputs(model, images: images, passes: passes, fixture: doubles)
    let expected = try AdaptedOutputs(fixture: doubles, trainable: actual.gradients.map(\.name))
    assertMaxAbs(actual.imageEmbeddings, expected.imageEmbeddings, tolerances.embeddingAbs, "\(name) \(T.self) adapted image embeddings")
    assertMaxAbs(actual.textEmbeddings, expected.textEmbeddings, tolerances.embeddingAbs, "\(name) \(T.self) adapted text embeddings")
    XCTAssertEqual(actual.contrastive, expected.contrastive, accuracy: tolerances.relative * abs(expected.contrastive), "\(name) contrastive loss")
    XCTAssertEqual(actual.ntp, expected.ntp, accuracy: tolerances.relative * abs(expected.ntp), "\(name) next-token loss")
    print("parity: \(name) \(T.self) contrastive \(actual.contrastive) vs \(expected.contrastive), ntp \(actual.ntp) vs \(expected.ntp)")
    var worst = 0.0
    for (computed, reference) in zip(actual.gradients, expected.gradients) {
        assertClose(computed.values, reference.values, tolerance: tolerances.gradient, "\(name) gradient of \(computed.name)")
        worst = max(worst, maxRelativeError(computed.values, reference.values))
    }
    XCTAssertEqual(actual.logitScaleGradient, expected.logitScaleGradient, accuracy: tolerances.gradient * abs(expected.logitScaleGradient),
                   "\(name) logit scale gradient")
    print("parity: \(name) \(T.self) worst gradient error (relative to max) \(worst), logit scale \(actual.logitScaleGradient) vs \(expected.logitScaleGradient)")
}
