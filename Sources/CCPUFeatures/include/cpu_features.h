#ifndef DISCERN_CPU_FEATURES_H
#define DISCERN_CPU_FEATURES_H
// The CPU's bf16 dot-product instructions, read with CPUID and XGETBV: /proc/cpuinfo is not
// always there (containers, other systems) and says nothing about what the OS has enabled.

/// 1 when the CPU has AVX512_BF16 (CPUID leaf 7 subleaf 1, EAX bit 5) with AVX-512F, and the OS
/// saves the AVX-512 register state (XCR0 bits 1, 2, 5, 6, 7); else 0. 0 on non-x86 CPUs.
int discern_cpu_avx512_bf16(void);
/// 1 when the CPU has AMX-BF16 and AMX-TILE (CPUID leaf 7 subleaf 0, EDX bits 22 and 24) and the
/// OS enables the tile state (XCR0 bits 17 and 18); else 0. 0 on non-x86 CPUs.
int discern_cpu_amx_bf16(void);
/// 1 when the CPU reports AVX512_BF16 but the OS has not enabled the AVX-512 state (so it
/// cannot be used); else 0.
int discern_cpu_avx512_bf16_disabled_by_os(void);
/// 1 when the CPU reports AMX-BF16 but the OS has not enabled the tile state; else 0.
int discern_cpu_amx_bf16_disabled_by_os(void);
#endif
