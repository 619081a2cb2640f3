// See include/TensorBF16.h. The GEMM is PanelGEMM's (Sources/TensorAVX512/PanelGEMM.swift) with
// VDPBF16PS for the FMA: per step, one pair of rows of the panel (two 64-byte loads), one 32-bit
// broadcast of a pair from each row of `a`, two VDPBF16PS per row into sixteen accumulators.
#include "TensorBF16.h"

#if defined(__x86_64__) && defined(__AVX512BF16__)
#include <immintrin.h>

void magfleet_bf16_convert(const float *source, uint16_t *target, long count) {
    long i = 0;
    // 32 floats in, 64 bytes out: the bytes written end at or before the next floats read.
    for (; i + 32 <= count; i += 32) {
        __m512 low = _mm512_loadu_ps(source + i), high = _mm512_loadu_ps(source + i + 16);
        __m512bh pair = _mm512_cvtne2ps_pbh(high, low);
        _mm512_storeu_si512((void *)(target + i), (__m512i)pair);
    }
    if (i < count) {
        __mmask16 mask = (__mmask16)((1u << (count - i > 16 ? 16 : count - i)) - 1);
        __m512 low = _mm512_maskz_loadu_ps(mask, source + i);
        __m512 high = count - i > 16 ? _mm512_maskz_loadu_ps((__mmask16)((1u << (count - i - 16)) - 1), source + i + 16)
                                     : _mm512_setzero_ps();
        __m512bh pair = _mm512_cvtne2ps_pbh(high, low);
        __mmask32 out = (__mmask32)((1ull << (count - i)) - 1);
        _mm512_mask_storeu_epi16((void *)(target + i), out, (__m512i)pair);
    }
}

/// `R` rows (1...8) of `a` times one panel into `R x 32` of `c`; `R` is a constant at every
/// call, so the loops unroll and the accumulators stay in registers. Step `t < prefetch_lines`
/// also prefetches cache line `t` from `prefetch` into L2.
static inline __attribute__((always_inline)) void kernel(const int R, long steps, const uint16_t *a, long lda,
                                                         const uint32_t *b, float *c, long ldc,
                                                         const char *prefetch, long prefetch_lines) {
    __m512 low[8], high[8];
    for (int r = 0; r < R; r++) {
        low[r] = _mm512_setzero_ps();
        high[r] = _mm512_setzero_ps();
    }
    for (long t = 0; t < steps; t++) {
        if (t < prefetch_lines) __builtin_prefetch(prefetch + t * 64, 0, 2);
        __m512bh b0 = (__m512bh)_mm512_loadu_si512((const void *)(b + t * 32));
        __m512bh b1 = (__m512bh)_mm512_loadu_si512((const void *)(b + t * 32 + 16));
        for (int r = 0; r < R; r++) {
            const uint32_t *pair = (const uint32_t *)(const void *)(a + r * lda + 2 * t);
            __m512bh x = (__m512bh)_mm512_set1_epi32((int)*pair);
            low[r] = _mm512_dpbf16_ps(low[r], x, b0);
            high[r] = _mm512_dpbf16_ps(high[r], x, b1);
        }
    }
    for (int r = 0; r < R; r++) {
        _mm512_storeu_ps(c + r * ldc, low[r]);
        _mm512_storeu_ps(c + r * ldc + 16, high[r]);
    }
}

void magfleet_bf16_gemm(long m, long n, long k, const uint16_t *a, long lda, const uint32_t *panels, float *c, long ldc) {
    enum { MAX_ROWS = 8 };
    const long steps = k / 2, panel_words = steps * MAGFLEET_BF16_PANEL_WIDTH, lines = panel_words / 16;
    // Rows in blocks of at most 8, as even as possible (PanelGEMM.multiply says why).
    const long blocks = (m + MAX_ROWS - 1) / MAX_ROWS;
    for (long p = 0; p < n / MAGFLEET_BF16_PANEL_WIDTH; p++) {
        const uint32_t *b = panels + p * panel_words;
        float *cp = c + p * MAGFLEET_BF16_PANEL_WIDTH;
        // Each block of rows prefetches its share of the next panel (PanelGEMM's scheme).
        const char *next = (const char *)(const void *)(b + panel_words);
        for (long block = 0; block < blocks; block++) {
            const long r = m * block / blocks, rows = m * (block + 1) / blocks - r;
            const long first = block * steps < lines ? block * steps : lines;
            const long count = steps < lines - first ? steps : lines - first;
            const uint16_t *ar = a + r * lda;
            float *cr = cp + r * ldc;
            const char *pf = next + first * 64;
            switch (rows) {
            case 8: kernel(8, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 7: kernel(7, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 6: kernel(6, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 5: kernel(5, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 4: kernel(4, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 3: kernel(3, steps, ar, lda, b, cr, ldc, pf, count); break;
            case 2: kernel(2, steps, ar, lda, b, cr, ldc, pf, count); break;
            default: kernel(1, steps, ar, lda, b, cr, ldc, pf, count); break;
            }
        }
    }
}

#else
// Other architectures: the engine never calls these (`HostCPU.hasAVX512BF16` is false there).
#include <stdlib.h>

void magfleet_bf16_convert(const float *source, uint16_t *target, long count) {
    (void)source, (void)target, (void)count;
    abort();
}

void magfleet_bf16_gemm(long m, long n, long k, const uint16_t *a, long lda, const uint32_t *panels, float *c, long ldc) {
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)panels, (void)c, (void)ldc;
    abort();
}
#endif
