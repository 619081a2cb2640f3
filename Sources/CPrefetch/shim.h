// CPU hints Swift has no intrinsics for: a software prefetch for the AVX-512 GEMM kernel
// (TensorAVX512), and the spin-wait hint for the engine's thread pool (Tensor/PassPool).
// Header-only; nothing to link.
#ifndef MAGFLEET_CPREFETCH_H
#define MAGFLEET_CPREFETCH_H

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

#endif
