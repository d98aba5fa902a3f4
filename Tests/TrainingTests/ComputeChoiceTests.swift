import Configuration
import Layers
import Training
import XCTest

/// `memory.compute` on CPUs with and without native bf16 dot products (the hardware is passed
/// in, so every branch runs on any CPU).
final class ComputeChoiceTests: XCTestCase {
    let capable = ComputeChoice.Hardware(native: true, description: "AVX512_BF16 (no AMX)")
    let lacking = ComputeChoice.Hardware(native: false, description: "none: this CPU lacks AVX512_BF16 and AMX-BF16")

    func testAutoPicksBFloat16OnlyWhereTheCPUHasIt() throws {
        let onCapable = try ComputeChoice(.auto, fullModel: false, hardware: capable)
        XCTAssertEqual(onCapable.precision, .bf16)
        XCTAssertTrue(onCapable.reason.contains("AVX512_BF16"), onCapable.reason)
        let onLacking = try ComputeChoice(.auto, fullModel: false, hardware: lacking)
        XCTAssertEqual(onLacking.precision, .fp32)
        XCTAssertTrue(onLacking.reason.contains("lacks"), onLacking.reason)
        // Full fine-tuning trains every base weight in fp32: nothing for bf16 to hold.
        XCTAssertEqual(try ComputeChoice(.auto, fullModel: true, hardware: capable).precision, .fp32)
    }

    func testExplicitChoices() throws {
        XCTAssertEqual(try ComputeChoice(.fp32, fullModel: false, hardware: capable).precision, .fp32)
        XCTAssertEqual(try ComputeChoice(.fp32, fullModel: true, hardware: lacking).precision, .fp32)
        XCTAssertEqual(try ComputeChoice(.bf16, fullModel: false, hardware: capable).precision, .bf16)
    }

    func testExplicitBFloat16IsRefusedWithTheReason() {
        XCTAssertThrowsError(try ComputeChoice(.bf16, fullModel: false, hardware: lacking)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("AVX512_BF16") && message.contains("AMX-BF16"), message)
            XCTAssertTrue(message.contains("memory.compute: fp32"), "the fix: \(message)")
        }
        XCTAssertThrowsError(try ComputeChoice(.bf16, fullModel: true, hardware: capable)) { error in
            XCTAssertTrue("\(error)".contains("train.mode full"), "\(error)")
        }
    }

    func testTheConfigurationKeyTakesTheThreeSpellingsOnly() throws {
        var config = ResolvedConfig()
        for value in ["fp32", "bf16", "auto"] {
            try config.set("memory.compute=\(value)")
            XCTAssertEqual(RunConfiguration(config).memory.compute.rawValue, value)
        }
        XCTAssertThrowsError(try config.set("memory.compute=fp16")) { error in
            XCTAssertTrue("\(error)".contains("fp32") && "\(error)".contains("auto"), "\(error)")
        }
    }
}
