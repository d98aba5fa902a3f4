// CPUID / XGETBV reads for BFloat16Hardware (Sources/Kernels/BFloat16Gemm.swift).
#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <stdint.h>

static int leaf(unsigned int index, unsigned int subleaf, unsigned int out[4]) {
    if (__get_cpuid_max(0, 0) < index) return 0;
    __cpuid_count(index, subleaf, out[0], out[1], out[2], out[3]);
    return 1;
}

// XCR0, the register state the OS saves on a context switch; 0 when XGETBV is unavailable
// (CPUID leaf 1, ECX bit 27: OSXSAVE).
static uint64_t xcr0(void) {
    unsigned int r[4];
    if (!leaf(1, 0, r) || !(r[2] & (1u << 27))) return 0;
    uint32_t low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
}

static int cpu_avx512_bf16(void) {
    unsigned int base[4], sub1[4];
    if (!leaf(7, 0, base) || !(base[1] & (1u << 16))) return 0;  // EBX bit 16: AVX-512F
    if (base[0] < 1 || !leaf(7, 1, sub1)) return 0;              // EAX of subleaf 0: last subleaf
    return (sub1[0] >> 5) & 1;                                    // subleaf 1 EAX bit 5: AVX512_BF16
}

static int cpu_amx_bf16(void) {
    unsigned int r[4];
    if (!leaf(7, 0, r)) return 0;
    return (r[3] & (1u << 22)) && (r[3] & (1u << 24));  // EDX: AMX-BF16, AMX-TILE
}

// SSE, AVX, opmask, upper halves of ZMM0-15, ZMM16-31.
static int os_avx512(void) { return (xcr0() & 0xE6) == 0xE6; }
// XTILECFG and XTILEDATA.
static int os_amx(void) { return (xcr0() & 0x60000) == 0x60000; }

int discern_cpu_avx512_bf16(void) { return cpu_avx512_bf16() && os_avx512(); }
int discern_cpu_amx_bf16(void) { return cpu_amx_bf16() && os_amx(); }
int discern_cpu_avx512_bf16_disabled_by_os(void) { return cpu_avx512_bf16() && !os_avx512(); }
int discern_cpu_amx_bf16_disabled_by_os(void) { return cpu_amx_bf16() && !os_amx(); }
#else
int discern_cpu_avx512_bf16(void) { return 0; }
int discern_cpu_amx_bf16(void) { return 0; }
int discern_cpu_avx512_bf16_disabled_by_os(void) { return 0; }
int discern_cpu_amx_bf16_disabled_by_os(void) { return 0; }
#endif
