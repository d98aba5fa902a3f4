import Kernels
import Layers
import Models
import XCTest

/// bf16 compute (memory.compute bf16) against the fp32 path on the Python twin's fixtures: the
/// adapted-model passes of AdapterParityTests / Qwen2VLParityTests (both embeddings, the
/// contrastive and next-token losses, the gradient of every trainable tensor and of the logit
/// scale).
///
/// The tolerance, and why. bf16 keeps 8 significant bits: narrowing moves a value by up to 2^-9
/// relative, so a bf16 product term is off by up to ~2^-8, and the errors compound through the
/// layers. How far that moves an output depends on the model's conditioning, not on Discern: the
/// fixtures are random models whose embeddings are nearly parallel, so the contrastive loss and
/// its gradients come from small differences of large values, and some gradient components move
/// by 10% of their tensor's largest. The test measures that conditioning on the same fixture:
/// the fp32 model with only its frozen weights rounded to bf16 (what any bf16 checkpoint does to
/// a model). bf16 compute also rounds the activation operand of each of those GEMMs, as many
/// roundings of the same size again, so its error must stay within `factor` times the
/// weight-rounding error (plus a floor for outputs the rounding happens to leave almost
/// untouched), and under absolute caps. A wrong operand, a transposed or misaddressed weight, a
/// lost bias or LoRA term moves values by order 1 and fails both.
final class BFloat16ParityTests: XCTestCase {
    static let factor = 4.0
    /// Floors: one bf16 rounding (2^-8 ~ 3.9e-3) of an O(1) value.
    static let floor = (embeddingAbs: 4e-3, lossRelative: 4e-3, gradient: 4e-3)
    /// Caps: far below the O(1) errors of a defect.
    static let caps = (embeddingAbs: 3e-2, lossRelative: 5e-2, gradient: 0.3)

    override func setUpWithError() throws {
        try XCTSkipUnless(BFloat16Hardware.native, "this CPU has no native bf16 dot products (\(BFloat16Hardware.description)); bf16 compute is not tested here")
    }

    typealias Loader = (String, ModelMemoryOptions, (VisionLanguageModel<Float>, ImageBatch<Float>, AdaptedPasses, (String) throws -> [Double]) throws -> Void) throws -> Void

    /// The adapted outputs of fixture `name` under `memory`; `roundWeights`: every frozen weight the
    /// model holds as float32 first rounded to bf16 (and back), the conditioning reference.
    func outputs(_ name: String, _ load: Loader, memory: ModelMemoryOptions = ModelMemoryOptions(), roundWeights: Bool = false) throws -> AdaptedOutputs {
        var result: AdaptedOutputs?
        try load(name, memory) { model, images, passes, doubles in
            if roundWeights {
                for parameter in model.parameters.frozen where parameter.half == nil {
                    for i in 0..<parameter.count { parameter.value[i] = Float(bitPattern: UInt32(bfloat16Bits(parameter.value[i])) << 16) }
                }
            }
            result = try AdaptedOutputs(model, images: images, passes: passes, fixture: doubles)
        }
        return result!
    }

    func check(_ name: String, _ load: Loader) throws {
        let fp32 = try outputs(name, load)
        let rounded = try outputs(name, load, roundWeights: true).errors(against: fp32)
        let bf16Model = try outputs(name, load, memory: ModelMemoryOptions(compute: .bf16))
        let bf16 = bf16Model.errors(against: fp32)
        print("bf16 parity: \(name): bf16 compute vs fp32: embeddings \(bf16.embeddingAbs), losses \(bf16.lossRelative), gradients \(bf16.gradient); "
            + "weights rounded only: \(rounded.embeddingAbs), \(rounded.lossRelative), \(rounded.gradient)")
        func bound(_ reference: Double, _ floor: Double, _ cap: Double) -> Double { min(max(Self.factor * reference, floor), cap) }
        XCTAssertLessThanOrEqual(bf16.embeddingAbs, bound(rounded.embeddingAbs, Self.floor.embeddingAbs, Self.caps.embeddingAbs), "\(name): embeddings")
        XCTAssertLessThanOrEqual(bf16.lossRelative, bound(rounded.lossRelative, Self.floor.lossRelative, Self.caps.lossRelative), "\(name): losses")
        XCTAssertLessThanOrEqual(bf16.gradient, bound(rounded.gradient, Self.floor.gradient, Self.caps.gradient), "\(name): gradients")
        // And the bf16 path did run: its outputs are not the fp32 ones.
        XCTAssertGreaterThan(bf16.embeddingAbs, 0, "\(name): bf16 compute gave the fp32 embeddings bit for bit")
    }

    func testLlavaInBFloat16StaysWithinBFloat16RoundingOfFP32() throws {
        for name in ["gqa", "mha"] {
            try check(name) { try AdapterParityTests.withAdaptedModel($0, Float.self, memory: $1, $2) }
        }
    }

    func testQwen2VLInBFloat16StaysWithinBFloat16RoundingOfFP32() throws {
        for name in Qwen2VLParityTests.models {
            try check(name) { try Qwen2VLParityTests.withAdaptedModel($0, Float.self, memory: $1, $2) }
        }
    }
}
