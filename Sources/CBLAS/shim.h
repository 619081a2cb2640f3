#ifndef MAGFLEET_CBLAS_SHIM_H
#define MAGFLEET_CBLAS_SHIM_H
// OpenBLAS's cblas.h also declares openblas_get_config / _corename / _num_threads.
#include <cblas.h>
#endif
