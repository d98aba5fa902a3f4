import CCPUFeatures

/// What the CPU offers for bf16 GEMMs: native bf16 dot products (AVX512_BF16's VDPBF16PS or
/// AMX-BF16's tile products), read with CPUID and XGETBV (Sources/CCPUFeatures), so it is right in
/// containers that hide /proc/cpuinfo and on systems whose kernel has not enabled the register
/// state. Without either, a bf16 product has no fast instruction and fp32 is the faster choice.
public enum BFloat16Hardware {
    /// AVX512_BF16 usable: the instruction is there and the OS saves the AVX-512 state.
    public static let avx512BF16 = discern_cpu_avx512_bf16() != 0
    /// AMX-BF16 usable: the tiles are there and the OS enables their state.
    public static let amxBF16 = discern_cpu_amx_bf16() != 0

    /// True when bf16 x bf16 products with fp32 accumulation run natively.
    public static var native: Bool { avx512BF16 || amxBF16 }

    /// One line for run logs and `discern doctor`; when `native` is false it names what is missing.
    public static let description: String = {
        switch (avx512BF16, amxBF16) {
        case (true, true): return "AVX512_BF16 and AMX-BF16"
        case (true, false): return "AVX512_BF16 (no AMX)"
        case (false, true): return "AMX-BF16 (no AVX512_BF16)"
        case (false, false):
            if discern_cpu_avx512_bf16_disabled_by_os() != 0 {
                return "none: this CPU has AVX512_BF16 but the operating system has not enabled the AVX-512 register state"
            }
            if discern_cpu_amx_bf16_disabled_by_os() != 0 {
                return "none: this CPU has AMX-BF16 but the operating system has not enabled the AMX tile state"
            }
            return "none: this CPU lacks AVX512_BF16 and AMX-BF16"
        }
    }()
}
