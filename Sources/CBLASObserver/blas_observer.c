// Observes the products `discern bench` sends to BLAS, so it can time cblas_sgemm alone at
// exactly the shapes a training step uses ("the ceiling at the model's shapes"), without a hook
// in the numeric code. As with the allocation counter, the program that links this defines the
// library's public symbol: calls to cblas_sgemm bind here, are shown to the observer when one is
// set, and are forwarded to OpenBLAS's own cblas_sgemm (the next definition, RTLD_NEXT). Unset,
// the cost is one atomic load per product.
#define _GNU_SOURCE
#include "blas_observer.h"
#include <stdio.h>   // first system header: defines __GLIBC__ where glibc is the C library

#if defined(__GLIBC__)
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>

// The CBLAS prototype with its enums as int (their ABI) and 32-bit indices (Debian's OpenBLAS;
// the 64-bit-index build is a separate library with suffixed names).
typedef void (*sgemm_function)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

static sgemm_function library_sgemm;
static _Atomic(discern_sgemm_observer) current_observer;

// Resolved before main, while the process has one thread.
__attribute__((constructor)) static void find_library_sgemm(void) {
    library_sgemm = (sgemm_function)dlsym(RTLD_NEXT, "cblas_sgemm");
}

void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    discern_sgemm_observer observer = atomic_load_explicit(&current_observer, memory_order_acquire);
    if (observer) observer(order, trans_a == 112 || trans_a == 113, trans_b == 112 || trans_b == 113, m, n, k, lda, ldb, ldc);
    if (!library_sgemm) {
        fputs("discern: cblas_sgemm not found in the loaded BLAS library\n", stderr);
        abort();
    }
    library_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void discern_set_sgemm_observer(discern_sgemm_observer observer) {
    atomic_store_explicit(&current_observer, observer, memory_order_release);
}

int discern_sgemm_observing_available(void) { return 1; }
#else
void discern_set_sgemm_observer(discern_sgemm_observer observer) { (void)observer; }
int discern_sgemm_observing_available(void) { return 0; }
#endif
