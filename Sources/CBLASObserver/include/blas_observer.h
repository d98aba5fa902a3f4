#ifndef DISCERN_BLAS_OBSERVER_H
#define DISCERN_BLAS_OBSERVER_H

/// Called with the shape of every cblas_sgemm the process makes while it is set (row- or
/// column-major as passed; transposes as 0/1). It may run on several threads at once.
typedef void (*discern_sgemm_observer)(int order, int trans_a, int trans_b, int m, int n, int k,
                                       int lda, int ldb, int ldc);

/// Sets (or with NULL clears) the observer.
void discern_set_sgemm_observer(discern_sgemm_observer observer);

/// 1 where cblas_sgemm is interposed (glibc), 0 where observing is not available.
int discern_sgemm_observing_available(void);

#endif
