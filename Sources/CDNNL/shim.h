#ifndef DISCERN_CDNNL_SHIM_H
#define DISCERN_CDNNL_SHIM_H
// oneDNN (Debian's libdnnl-dev, no pkg-config file): its matmul primitive is Discern's bf16 GEMM
// (docs/performance.md, "bf16 GEMM library").
#include <oneapi/dnnl/dnnl.h>

// Debian builds oneDNN on OpenMP (libgomp). Discern runs each oneDNN call on one thread and splits
// a product across its own threads (Sources/Kernels/BFloat16Gemm.swift), so the calling thread's
// OpenMP thread count must be 1 when a primitive is created and run. omp.h belongs to GCC and is
// not on Swift's include path: the one function needed is declared here (libgomp's ABI).
extern void omp_set_num_threads(int count);
extern int omp_get_max_threads(void);

// The C macros Swift cannot import.
static inline void *discern_dnnl_memory_none(void) { return DNNL_MEMORY_NONE; }
#endif
