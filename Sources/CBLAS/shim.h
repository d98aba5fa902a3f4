#ifndef DISCERN_CBLAS_SHIM_H
#define DISCERN_CBLAS_SHIM_H
// OpenBLAS's cblas.h also declares openblas_get_corename / openblas_set_num_threads,
// which `discern doctor` uses to detect the generic-kernel fallback.
#include <cblas.h>
#endif
