// What the engine's kernels need from C that Swift has no spelling for: a software prefetch
// for the AVX-512 GEMM kernel (TensorAVX512), the spin-wait hint for the engine's thread pool
// (Tensor/PassPool), and glibc's mallopt with its real constants (the Glibc module does not
// export <malloc.h>). Header-only; nothing to link.
#ifndef MAGFLEET_CPREFETCH_H
#define MAGFLEET_CPREFETCH_H

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// Asks for the cache line at `address` to be brought into L2 (prefetcht1: a hint, never
/// faults; L1 is left to the panel in use).
static inline void magfleet_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

/// One step of a spin-wait: `pause` on x86 (lets the other hyperthread run and avoids the
/// memory-order flush when the awaited store lands), `yield` on arm64.
static inline void magfleet_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Keeps blocks up to `mmap_threshold` bytes in the heap instead of mapping and unmapping them
/// per allocation, and trims the heap only above `trim_threshold`: glibc's M_MMAP_THRESHOLD and
/// M_TRIM_THRESHOLD. Returns 1 when both were set; 0 where glibc's malloc is not in use.
static inline int magfleet_keep_large_allocations_in_heap(int mmap_threshold, int trim_threshold) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}

#endif
