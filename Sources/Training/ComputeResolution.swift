import Configuration
import Kernels
import Layers

/// `memory.compute` made a precision on this CPU, with the reason every run prints at start.
package struct ComputeChoice: Sendable, Equatable {
    package let precision: ComputePrecision
    package let reason: String

    /// What the CPU offers, as BFloat16Hardware reports it (tests pass other hardware).
    package struct Hardware: Sendable {
        package let native: Bool
        package let description: String
        package init(native: Bool, description: String) {
            self.native = native
            self.description = description
        }
        package static var thisCPU: Hardware { Hardware(native: BFloat16Hardware.native, description: BFloat16Hardware.description) }
    }

    /// `fullModel`: train.mode full, where every base weight trains in fp32 and bf16 has nothing to hold.
    package init(_ setting: RunConfiguration.ComputeSetting, fullModel: Bool, hardware: Hardware = .thisCPU) throws {
        switch setting {
        case .fp32:
            (precision, reason) = (.fp32, "memory.compute fp32")
        case .bf16:
            guard !fullModel else {
                throw ConfigError("memory.compute bf16 holds the frozen base weights as bf16, but train.mode full trains every base weight (in fp32); set memory.compute: fp32 (or train.mode: adapters).")
            }
            guard hardware.native else {
                throw ConfigError("memory.compute bf16 needs native bf16 dot products (AVX512_BF16 or AMX-BF16), and this CPU has neither (bf16 support: \(hardware.description)); set memory.compute: fp32, or auto to use bf16 only where the CPU has it.")
            }
            (precision, reason) = (.bf16, "memory.compute bf16; bf16 support: \(hardware.description)")
        case .auto:
            if fullModel {
                (precision, reason) = (.fp32, "memory.compute auto: fp32, as train.mode full trains every base weight")
            } else if hardware.native {
                (precision, reason) = (.bf16, "memory.compute auto: bf16, this CPU has native bf16 dot products (\(hardware.description))")
            } else {
                (precision, reason) = (.fp32, "memory.compute auto: fp32, this CPU lacks native bf16 dot products (\(hardware.description))")
            }
        }
    }
}
