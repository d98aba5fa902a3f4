#ifndef DISCERN_ALLOCATION_COUNTER_H
#define DISCERN_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by
/// any thread of this process since it started. Only the `discern` executable links this
/// target: it replaces the C allocator's entry points with counting wrappers around glibc's.
uint64_t discern_allocation_count(void);

/// 1 when the counting wrappers are the process's allocator (glibc); 0 elsewhere, where the
/// count stays 0 and must not be reported as "no allocations".
int discern_allocation_counting_active(void);

#endif
