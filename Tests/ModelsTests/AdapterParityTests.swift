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
        let config = fixture.directory.config
        let probe: VisionLanguageModel<T> = try fixture.directory.loadModel()
        let prompts = try PromptBuilder(encoder: try fixture.directory.tokenizer(), templates: PromptTemplates(),
                                        imageTokenID: config.imageTokenIndex, eosTokenID: config.text.eosTokenId,
                                        imageTokens: probe.imageTokens, maxPositions: config.text.maxPositionEmbeddings)
        let trainable = TrainableSet(lora: LoRASettings(rank: fixture.loraRank, alpha: fixture.loraAlpha),
                                     imageSoftPromptLength: prompts.imageSuffixIDs.count, textSoftPromptLength: prompts.textSuffixIDs.count)
        let model: VisionLanguageModel<T> = try fixture.directory.loadModel(trainable: trainable)
        // Adapter values from the fixture (PEFT's, under Discern's names).
        var adapters = 0
        for parameter in model.parameters.trainable {
            let values = try fixture.doubles("adapted." + parameter.name)
            XCTAssertEqual(values.count, parameter.count, parameter.name)
            for i in 0..<parameter.count { parameter.value[i] = T(values[i]) }
            adapters += 1
        }
        XCTAssertEqual(adapters, config.text.numHiddenLayers * 7 * 2 + 2, "LoRA on the LLM's seven projections plus two soft prompts")
        let logitScale = T(try fixture.doubles("adapted.logit_scale")[0])

        let images = fixture.captions.count, width = model.hidden
        let pixels = try fixture.doubles("pixels").map { T($0) }
        let imageSequences = SequenceBatch(items: try (0..<images).map { try prompts.imageItem(imageIndex: $0, softPrompt: true).item })
        let textSequences = SequenceBatch(items: try fixture.captions.map { try prompts.textItem(caption: $0, softPrompt: true) })
        let ntpItems = try (0..<images).map { try prompts.imageItem(imageIndex: $0, softPrompt: true, longCaption: fixture.longCaptions[$0]) }
        let ntpSequences = SequenceBatch(items: ntpItems.map(\.item), poolIndices: ntpItems.map(\.poolIndex))
        let expectedTargets = try fixture.ints("ntp_targets")
        XCTAssertEqual(ntpSequences.targets, expectedTargets.values, "\(name): next-token targets")

        let imagePass = VisionLanguageModel<T>.Pass(), textPass = VisionLanguageModel<T>.Pass(), ntpPass = VisionLanguageModel<T>.Pass()
        let imagePooling = EmbeddingPooling<T>(), textPooling = EmbeddingPooling<T>(), ntp = NextTokenLoss<T>()
        let imageHidden = pixels.withUnsafeBufferPointer { model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: images), sequences: imageSequences, pass: imagePass) }
        let imageEmbeddings = imagePooling.forward(imageHidden, sequences: imageSequences, width: width)
        let textHidden = model.forward(images: nil, sequences: textSequences, pass: textPass)
        let textEmbeddings = textPooling.forward(textHidden, sequences: textSequences, width: width)
        let ntpHidden = pixels.withUnsafeBufferPointer { model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: images), sequences: ntpSequences, pass: ntpPass) }
        let ntpResult = ntp.forward(ntpHidden, sequences: ntpSequences, head: model.language.lmHead)

        func array(_ p: UnsafeMutablePointer<T>, _ n: Int) -> [T] { Array(UnsafeBufferPointer(start: p, count: n)) }
        assertMaxAbs(array(imageEmbeddings, images * width), try fixture.doubles("adapted.image_embeddings"), embeddingAbs, "\(name) adapted image embeddings")
        assertMaxAbs(array(textEmbeddings, images * width), try fixture.doubles("adapted.text_embeddings"), embeddingAbs, "\(name) adapted text embeddings")

        let dImages = Buffer<T>(count: images * width), dTexts = Buffer<T>(count: images * width)
        let contrastive = ContrastiveLoss<T>().forwardBackward(
            images: imageEmbeddings, texts: textEmbeddings, total: images, dim: width, offset: 0, count: images,
            logitScale: logitScale, dImages: dImages.pointer, dTexts: dTexts.pointer)
        let expectedContrastive = try fixture.doubles("adapted.contrastive_loss")[0], expectedNTP = try fixture.doubles("adapted.ntp_loss")[0]
        XCTAssertEqual(contrastive.localLoss, expectedContrastive, accuracy: relative * abs(expectedContrastive), "\(name) contrastive loss")
        XCTAssertEqual(ntpResult.loss, expectedNTP, accuracy: relative * abs(expectedNTP), "\(name) next-token loss")
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
            let expected = try fixture.doubles("grad." + parameter.name).map { T($0) }
            let actual = array(parameter.gradient!, parameter.count)
            assertClose(actual, expected, tolerance: gradient, "\(name) gradient of \(parameter.name)")
            worst = max(worst, maxRelativeError(actual, expected))
        }
        let expectedScale = try fixture.doubles("grad.logit_scale")[0]
        XCTAssertEqual(contrastive.logitScaleGradient, expectedScale, accuracy: gradient * abs(expectedScale), "\(name) logit scale gradient")
        print("parity: \(name) \(T.self) worst gradient error (relative to max) \(worst), logit scale \(contrastive.logitScaleGradient) vs \(expectedScale)")
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
