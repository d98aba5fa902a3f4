// Counts heap allocations for `discern bench` ("no allocation in the steady-state step", proved
// by a counter). The executable defines the allocator's public symbols; the dynamic linker then
// binds every library's calls (Swift runtime, Foundation, OpenBLAS, MPI) to these wrappers,
// which count and forward to glibc's own implementation (__libc_*). One relaxed atomic add per
// call: no measurable cost, so it is always on.
#include "allocation_counter.h"

#if defined(__GLIBC__)
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Atomic uint64_t allocations = 0;

static inline void count_one(void) { atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed); }

void *malloc(size_t size) { count_one(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_one(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { count_one(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    // POSIX: alignment must be a power of two multiple of sizeof(void *).
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL && size != 0) return ENOMEM;
    *result = pointer;
    return 0;
}

uint64_t discern_allocation_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }
int discern_allocation_counting_active(void) { return 1; }
#else
uint64_t discern_allocation_count(void) { return 0; }
int discern_allocation_counting_active(void) { return 0; }
#endif
