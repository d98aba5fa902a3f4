import Foundation
import Kernels
import Layers
import Models
import Objectives
import TestSupport
import XCTest

/// The whole LLaVA backward (vision tower, projector, Llama, LoRA, soft prompts, pooling, NTP
/// head) against Float64 central finite differences, on a tiny random model where every
/// parameter trains.
final class ModelGradientTests: XCTestCase {
    static let tinyConfig = """
    {"model_type": "llava", "image_token_index": 40, "vision_feature_layer": -1, "vision_feature_select_strategy": "default",
     "vision_config": {"hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 8, "patch_size": 4},
     "text_config": {"hidden_size": 12, "intermediate_size": 20, "num_hidden_layers": 2, "num_attention_heads": 3,
                     "num_key_value_heads": 1, "vocab_size": 41, "max_position_embeddings": 64}}
    """

    /// Central differences with step 1e-5 on a model whose values are O(1): truncation error
    /// ~1e-10, rounding ~1e-11, so 1e-6 relative to the tensor's largest gradient is generous
    /// yet far below any real mistake (a wrong term moves the gradient by O(1) relative).
    let tolerance = 1e-6

    func testFullModelGradientsMatchFiniteDifferences() throws {
        let config = try LlavaConfig.parse(Data(Self.tinyConfig.utf8), source: "tiny")
        // LoRA dropout 0.3 is on in the language model: its masks are fixed by the row keys, so the
        // loss stays a deterministic function of the parameters.
        let trainable = TrainableSet(fullModel: true, lora: LoRASettings(rank: 2, alpha: 4, dropout: 0.3, targetPattern: #".*(q_proj|down_proj|fc1|linear_1)"#),
                                     imageSoftPromptLength: 2, textSoftPromptLength: 3)
        let model = try VisionLanguageModel<Double>(config: config, trainable: trainable)
        var random = Xoshiro256(seed: 3)
        for parameter in model.parameters.parameters {
            for i in 0..<parameter.count { parameter.value[i] = random.uniform(-0.6, 0.6) }
            if parameter.name.hasSuffix("layernorm.weight") || parameter.name.hasSuffix("norm.weight") || parameter.name.contains("layer_norm") && parameter.name.hasSuffix("weight") {
                for i in 0..<parameter.count { parameter.value[i] += 1 }
            }
        }
        // Two images; sequence 0: [BOS] <4 image rows> <image prompt x2> then two caption tokens with
        // targets; sequence 1: shorter, left-padded, text prompt rows.
        let images = 2, imageTokens = model.imageTokens
        let pixels = (0..<images * 3 * 8 * 8).map { _ in Double(random.uniform(-1.0, 1.0)) }
        var first = SequenceBatch.Item()
        first.append(.token, 1)
        for i in 0..<imageTokens { first.append(.image, Int32(i)) }
        first.append(.imagePrompt, 0); first.append(.imagePrompt, 1, target: 7)
        first.append(.token, 7, target: 9); first.append(.token, 9, target: 2)
        var second = SequenceBatch.Item()
        second.append(.token, 1); second.append(.token, 5)
        for i in 0..<3 { second.append(.textPrompt, Int32(i)) }
        second.append(.token, 3)
        for i in 0..<imageTokens { second.append(.image, Int32(imageTokens + i)) }
        var sequences = SequenceBatch(items: [first, second])
        sequences.keyRows(sampleKeys: [11, 12], seed: 99)
        let width = model.hidden
        let cotangent = (0..<images * width).map { _ in Double(random.uniform(-1.0, 1.0)) }

        let pass = VisionLanguageModel<Double>.Pass(), pooling = EmbeddingPooling<Double>(), ntp = NextTokenLoss<Double>()
        func loss() -> Double {
            let hidden = pixels.withUnsafeBufferPointer {
                model.forward(images: ImageBatch(pixels: $0.baseAddress!, count: images), sequences: sequences, pass: pass)
            }
            let embeddings = pooling.forward(hidden, sequences: sequences, width: width)
            var total = 0.0
            for i in 0..<images * width { total += embeddings[i] * cotangent[i] }
            return total + 0.7 * ntp.forward(hidden, sequences: sequences, head: model.language.lmHead).loss
        }

        _ = loss()
        model.parameters.zeroGradients()
        let dHidden = Buffer<Double>(count: sequences.rows * width)
        let scratch = GrowableBuffer<Double>()
        cotangent.withUnsafeBufferPointer {
            pooling.backward($0.baseAddress!, sequences: sequences, width: width, dHidden: dHidden.pointer, scratch: scratch)
        }
        ntp.backward(scale: 0.7, head: model.language.lmHead, dHidden: dHidden.pointer, scratch: scratch)
        model.backward(dHidden.pointer, pass: pass, scratch: ModelScratch())

        let checked = checkGradientsByFiniteDifferences(model, loss: loss, tolerance: tolerance, random: &random)
        XCTAssertEqual(checked, model.parameters.trainable.count)
        XCTAssertGreaterThan(checked, 60)
    }

    /// Dropout really drops (the keyed forward differs from the plain one), the same keys give the
    /// same output, and the rows of a sequence do not depend on what else is in the batch.
    func testLoRADropoutIsKeyedAndBatchIndependent() throws {
        let config = try LlavaConfig.parse(Data(Self.tinyConfig.utf8), source: "tiny")
        let model = try VisionLanguageModel<Double>(config: config, trainable: TrainableSet(lora: LoRASettings(rank: 2, alpha: 4, dropout: 0.5)))
        var random = Xoshiro256(seed: 4)
        for parameter in model.parameters.parameters { for i in 0..<parameter.count { parameter.value[i] = random.uniform(-0.5, 0.5) } }
        func item(_ ids: [Int32]) -> SequenceBatch.Item {
            var item = SequenceBatch.Item()
            for id in ids { item.append(.token, id) }
            return item
        }
        func embed(_ items: [SequenceBatch.Item], keys: [UInt64]?) -> [Double] {
            var sequences = SequenceBatch(items: items)
            if let keys { sequences.keyRows(sampleKeys: keys, seed: 7) }
            let pass = VisionLanguageModel<Double>.Pass(), pooling = EmbeddingPooling<Double>()
            let hidden = model.forward(images: nil, sequences: sequences, pass: pass)
            return Array(UnsafeBufferPointer(start: pooling.forward(hidden, sequences: sequences, width: model.hidden), count: items.count * model.hidden))
        }
        let a = item([1, 5, 9, 3]), b = item([1, 7, 2])
        let plain = embed([a], keys: nil), dropped = embed([a], keys: [21])
        XCTAssertGreaterThan(maxRelativeError(dropped, plain), 1e-3, "dropout must change the output")
        XCTAssertEqual(embed([a], keys: [21]), dropped, "same keys, same masks")
        let together = embed([b, a], keys: [22, 21])   // a is now left-padded less and sits second
        assertClose(Array(together[model.hidden...]), dropped, tolerance: Tolerance.doubleReordering, "a sequence's masks do not depend on its batch")
    }
}

/// Every trainable tensor's analytic gradient (already in `parameter.gradient`) against central
/// differences of `loss` at a few random elements; returns the number of tensors checked.
func checkGradientsByFiniteDifferences(_ model: VisionLanguageModel<Double>, loss: () -> Double, tolerance: Double, step: Double = 1e-5,
                                       random: inout Xoshiro256, file: StaticString = #filePath, line: UInt = #line) -> Int {
    var checked = 0
    for parameter in model.parameters.trainable {
        // A few elements of every tensor: finite differences cost two forwards each.
        let picks = Set((0..<min(parameter.count, 4)).map { _ in Int(random.next() % UInt64(parameter.count)) })
        var analytic: [Double] = [], numeric: [Double] = []
        for i in picks.sorted() {
            let saved = parameter.value[i]
            parameter.value[i] = saved + step
            let plus = loss()
            parameter.value[i] = saved - step
            let minus = loss()
            parameter.value[i] = saved
            numeric.append((plus - minus) / (2 * step))
            analytic.append(parameter.gradient![i])
        }
        let scale = max(numeric.map(abs).max() ?? 0, 1e-3)
        for (a, n) in zip(analytic, numeric) where abs(a - n) / scale > tolerance {
            XCTFail("\(parameter.name): analytic \(a) vs finite difference \(n)", file: file, line: line)
        }
        checked += 1
    }
    return checked
}
