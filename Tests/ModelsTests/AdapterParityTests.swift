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

    func run<T: KernelScalar>(_ name: String, _: T.Type, embeddingAbs: Double, relative: Double, gradient: Double) throws {
        let fixture = try Fixture(name)
        let config = fixture.directory.llava!
        let probe: VisionLanguageModel<T> = try fixture.directory.loadModel()
        let prompts = try PromptBuilder(encoder: try fixture.directory.tokenizer(), templates: PromptTemplates(),
                                        imageTokenID: config.imageTokenIndex, eosTokenID: config.text.eosTokenId,
                                        imageTokens: probe.imageTokens, maxPositions: config.text.maxPositionEmbeddings)
        let trainable = TrainableSet(lora: LoRASettings(rank: fixture.loraRank, alpha: fixture.loraAlpha),
                                     imageSoftPromptLength: prompts.imageSuffixIDs.count, textSoftPromptLength: prompts.textSuffixIDs.count)
        let model: VisionLanguageModel<T> = try fixture.directory.loadModel(trainable: trainable)
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
            try checkAdaptedModel(model, name: name, images: ImageBatch(pixels: p.baseAddress!, count: images),
                                  passes: (imageSequences, textSequences, ntpSequences), fixture: fixture.doubles,
                                  tolerances: (embeddingAbs, relative, gradient))
        }
    }

    func testAdaptersMatchPEFTInDouble() throws {
        for name in ["gqa", "mha"] {
            try run(name, Double.self, embeddingAbs: TransformersParityTests.doubleEmbeddingAbs,
                    relative: TransformersParityTests.doubleRelative, gradient: TransformersParityTests.doubleGradient)
        }
    }

    func testAdaptersMatchPEFTInFloat() throws {
        for name in ["gqa", "mha"] {
            try run(name, Float.self, embeddingAbs: TransformersParityTests.floatEmbeddingAbs,
                    relative: TransformersParityTests.floatRelative, gradient: TransformersParityTests.floatGradient)
        }
    }
}

/// The adapted model against PEFT, for any family: adapter values and the logit scale from the
/// fixture ("adapted." + name), the image / text / next-token passes, their embeddings and
/// losses, then the gradient of contrastive + NTP with respect to every trainable tensor
/// ("grad." + name) and the logit scale.
func checkAdaptedModel<T: KernelScalar>(_ model: VisionLanguageModel<T>, name: String, images: ImageBatch<T>,
                                        passes: (image: SequenceBatch, text: SequenceBatch, ntp: SequenceBatch),
                                        fixture doubles: (String) throws -> [Double],
                                        tolerances: (embeddingAbs: Double, relative: Double, gradient: Double)) throws {
    for parameter in model.parameters.trainable {
        let values = try doubles("adapted." + parameter.name)
        XCTAssertEqual(values.count, parameter.count, parameter.name)
        for i in 0..<parameter.count { parameter.value[i] = T(values[i]) }
    }
    let logitScale = T(try doubles("adapted.logit_scale")[0])
    let (imageSequences, textSequences, ntpSequences) = passes
    let count = imageSequences.batch, width = model.hidden
    let imagePass = VisionLanguageModel<T>.Pass(), textPass = VisionLanguageModel<T>.Pass(), ntpPass = VisionLanguageModel<T>.Pass()
    let imagePooling = EmbeddingPooling<T>(), textPooling = EmbeddingPooling<T>(), ntp = NextTokenLoss<T>()
    let imageHidden = model.forward(images: images, sequences: imageSequences, pass: imagePass)
    let imageEmbeddings = imagePooling.forward(imageHidden, sequences: imageSequences, width: width)
    let textHidden = model.forward(images: nil, sequences: textSequences, pass: textPass)
    let textEmbeddings = textPooling.forward(textHidden, sequences: textSequences, width: width)
    let ntpHidden = model.forward(images: images, sequences: ntpSequences, pass: ntpPass)
    let ntpResult = ntp.forward(ntpHidden, sequences: ntpSequences, head: model.language.lmHead)

    func array(_ p: UnsafeMutablePointer<T>, _ n: Int) -> [T] { Array(UnsafeBufferPointer(start: p, count: n)) }
    assertMaxAbs(array(imageEmbeddings, count * width), try doubles("adapted.image_embeddings"), tolerances.embeddingAbs, "\(name) \(T.self) adapted image embeddings")
    assertMaxAbs(array(textEmbeddings, count * width), try doubles("adapted.text_embeddings"), tolerances.embeddingAbs, "\(name) \(T.self) adapted text embeddings")

    let dImages = Buffer<T>(count: count * width), dTexts = Buffer<T>(count: count * width)
    let contrastive = ContrastiveLoss<T>().forwardBackward(
        images: imageEmbeddings, texts: textEmbeddings, total: count, dim: width, offset: 0, count: count,
        logitScale: logitScale, dImages: dImages.pointer, dTexts: dTexts.pointer)
    let expectedContrastive = try doubles("adapted.contrastive_loss")[0], expectedNTP = try doubles("adapted.ntp_loss")[0]
    XCTAssertEqual(contrastive.localLoss, expectedContrastive, accuracy: tolerances.relative * abs(expectedContrastive), "\(name) contrastive loss")
    XCTAssertEqual(ntpResult.loss, expectedNTP, accuracy: tolerances.relative * abs(expectedNTP), "\(name) next-token loss")
    print("parity: \(name) \(T.self) contrastive \(contrastive.localLoss) vs \(expectedContrastive), ntp \(ntpResult.loss) vs \(expectedNTP)")

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
    ntp.backward(scale: 1, head: model.language.lmHead, dHidden: dNTPHidden.pointer, scratch: poolScratch)
    model.backward(dNTPHidden.pointer, pass: ntpPass, scratch: scratch)

    var worst = 0.0
    for parameter in model.parameters.trainable {
        let expected = try doubles("grad." + parameter.name).map { T($0) }
        let actual = array(parameter.gradient!, parameter.count)
        assertClose(actual, expected, tolerance: tolerances.gradient, "\(name) gradient of \(parameter.name)")
        worst = max(worst, maxRelativeError(actual, expected))
    }
    let expectedScale = try doubles("grad.logit_scale")[0]
    XCTAssertEqual(contrastive.logitScaleGradient, expectedScale, accuracy: tolerances.gradient * abs(expectedScale), "\(name) logit scale gradient")
    print("parity: \(name) \(T.self) worst gradient error (relative to max) \(worst), logit scale \(contrastive.logitScaleGradient) vs \(expectedScale)")
}
