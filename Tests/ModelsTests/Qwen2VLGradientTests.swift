import Foundation
import Kernels
import Layers
import Models
import Objectives
import TestSupport
import XCTest

/// The whole Qwen2-VL backward (patch embedding, vision blocks with fused qkv and 2-D rotary
/// over packed images of different sizes, merger, Qwen2 with q/k/v biases and M-RoPE, LoRA with
/// dropout, soft prompts, pooling, NTP head) against Float64 central finite differences, with
/// every parameter of the tiny fixture model training.
final class Qwen2VLGradientTests: XCTestCase {
    func testFullModelGradientsMatchFiniteDifferences() throws {
        let fixture = try Qwen2VLFixture("qwen2vl-b")
        let trainable = TrainableSet(fullModel: true,
                                     lora: LoRASettings(rank: 2, alpha: 4, dropout: 0.3, targetPattern: #".*(q_proj|down_proj|attn\.qkv|mlp\.0)"#),
                                     imageSoftPromptLength: fixture.imageSuffixLength, textSoftPromptLength: fixture.textSuffixLength)
        let model: VisionLanguageModel<Double> = try fixture.model(trainable: trainable)
        XCTAssertTrue(model.vision.needsBackward)
        var random = Xoshiro256(seed: 5)
        for parameter in model.parameters.trainable where parameter.name.contains("lora_") {
            for i in 0..<parameter.count { parameter.value[i] = random.uniform(-0.3, 0.3) }
        }
        let (pixels, grids) = try fixture.images(Double.self)
        var sequences = try fixture.sequences("ntp", softPrompts: true, targets: true)
        sequences.keyRows(sampleKeys: [31, 32, 33], seed: 17)
        let width = model.hidden
        let cotangent = (0..<sequences.batch * width).map { _ in random.uniform(-1.0, 1.0) }
        let pass = VisionLanguageModel<Double>.Pass(), pooling = EmbeddingPooling<Double>(), ntp = NextTokenLoss<Double>()
        func loss() -> Double {
            let hidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: grids.count, grids: grids), sequences: sequences, pass: pass)
            }
            let embeddings = pooling.forward(hidden, sequences: sequences, width: width)
            var total = 0.0
            for i in 0..<sequences.batch * width { total += embeddings[i] * cotangent[i] }
            return total + 0.7 * ntp.forward(hidden, sequences: sequences, head: model.language.lmHead).loss
        }
        _ = loss()
        model.parameters.zeroGradients()
        let dHidden = Buffer<Double>(count: sequences.rows * width), scratch = GrowableBuffer<Double>()
        cotangent.withUnsafeBufferPointer {
            pooling.backward($0.baseAddress!, sequences: sequences, width: width, dHidden: dHidden.pointer, scratch: scratch)
        }
        ntp.backward(scale: 0.7, head: model.language.lmHead, dHidden: dHidden.pointer, scratch: scratch)
        model.backward(dHidden.pointer, pass: pass, scratch: ModelScratch())

        // The fixture's weights are larger than the LLaVA test's, so step 1e-5's truncation error
        // (about step^2 times the third derivative) reaches 1e-6 relative on the soft prompts;
        // step 1e-6 cuts it 100x while rounding stays near 1e-10.
        let checked = checkGradientsByFiniteDifferences(model, loss: loss, tolerance: 1e-6, step: 1e-6, random: &random)
        XCTAssertEqual(checked, model.parameters.trainable.count)
        XCTAssertGreaterThan(checked, 90)
    }
}
