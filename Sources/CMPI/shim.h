#ifndef DISCERN_CMPI_SHIM_H
#define DISCERN_CMPI_SHIM_H
#include <mpi.h>
#include <stdint.h>
#include <time.h>

// Open MPI's handles are macros over addresses of global structs, which Swift cannot import.
// Each getter returns the handle as a value.
static inline MPI_Comm discern_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype discern_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype discern_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype discern_mpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype discern_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype discern_mpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype discern_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op discern_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op discern_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op discern_mpi_min(void) { return MPI_MIN; }
static inline void *discern_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler discern_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int discern_mpi_success(void) { return MPI_SUCCESS; }
static inline int discern_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int discern_mpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }
static inline int discern_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

// For the collective watchdog: the main thread notes when it enters and leaves a collective,
// a watchdog thread reads that. Plain loads and stores with C11 atomics, no allocation.
static inline void discern_atomic_store_u64(uint64_t *slot, uint64_t value) { __atomic_store_n(slot, value, __ATOMIC_RELEASE); }
static inline uint64_t discern_atomic_load_u64(uint64_t *slot) { return __atomic_load_n(slot, __ATOMIC_ACQUIRE); }
static inline uint64_t discern_monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

#endif
