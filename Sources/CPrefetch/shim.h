// Software prefetch for the AVX-512 GEMM kernel (TensorAVX512): Swift has no prefetch
// intrinsic. Header-only; nothing to link.
#ifndef MAGFLEET_CPREFETCH_H
#define MAGFLEET_CPREFETCH_H

/// Asks for the cache line at `address` to be brought into L2 (prefetcht1: a hint, never
/// faults; L1 is left to the panel in use).
static inline void magfleet_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

#endif
