import Kernels

/// What `discern doctor` reports about bf16: the CPU's native bf16 instructions (CPUID, see
/// BFloat16Hardware) and the library behind the bf16 GEMM.
package enum BFloat16Info {
    package static var native: Bool { BFloat16Hardware.native }
    package static var hardware: String { BFloat16Hardware.description }
    package static var library: String { bf16GemmLibrary }
}
