/* One core's peak for float32 FMA (VFMADD231PS), for AVX512_BF16's dot product (VDPBF16PS)
 * and, where the CPU has it, for AMX's TDPBF16PS; the first two also in a register-blocked GEMM
 * kernel on L2-resident operands. Whether a bf16 path could beat the float32 one on this CPU,
 * before anyone writes it (issue 20, docs/performance.md). All count 2 FLOPs per multiply-add:
 * VFMADD231PS zmm does 16, VDPBF16PS zmm 32, TDPBF16PS on 16x16 tiles 8192.
 *
 *   gcc -O3 -mavx512f -mavx512bf16 -mfma -mamx-tile -mamx-bf16 Tests/Benchmarks/dot_peaks.c -o /tmp/dot_peaks && /tmp/dot_peaks
 *
 * Needs a CPU with AVX512_BF16 (Sapphire Rapids and later, Zen 4 and later); the AMX part
 * runs only where Linux grants the tile state (arch_prctl), else says so. Not part of CI. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AMX_BF16__)
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

enum { CHAINS = 16 }; /* independent accumulators: more than latency x throughput on both families */

__attribute__((noinline)) static float fma_peak(long iterations) {
    __m512 acc[CHAINS], x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.9999f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((noinline)) static float bf16_peak(long iterations) {
    __m512 acc[CHAINS];
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3c003c00);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long i = 0; i < iterations; i++)
        for (int j = 0; j < CHAINS; j++) acc[j] = _mm512_dpbf16_ps(acc[j], x, y);
    __m512 s = acc[0];
    for (int j = 1; j < CHAINS; j++) s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

/* 8 rows x 32 columns of C in 16 accumulators, as PanelGEMM does: per step one broadcast of A
 * per row and two loads of the panel. float32 steps k by 1; bf16 by 2 (a pair per lane). */
static void f32_kernel(int k, const float *a, int lda, const float *b, float *c, int ldc) {
    __m512 lo[8], hi[8];
    for (int r = 0; r < 8; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    for (int s = 0; s < k; s++) {
        __m512 b0 = _mm512_loadu_ps(b + s * 32), b1 = _mm512_loadu_ps(b + s * 32 + 16);
        for (int r = 0; r < 8; r++) {
            __m512 x = _mm512_set1_ps(a[r * lda + s]);
            lo[r] = _mm512_fmadd_ps(x, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(x, b1, hi[r]);
        }
    }
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_ps(c + r * ldc, lo[r]);
        _mm512_storeu_ps(c + r * ldc + 16, hi[r]);
    }
}

static void bf16_kernel(int k, const uint16_t *a, int lda, const uint16_t *b, float *c, int ldc) {
    __m512 lo[8], hi[8];
    for (int r = 0; r < 8; r++) lo[r] = hi[r] = _mm512_setzero_ps();
    for (int s = 0; s < k; s += 2) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + s * 32), b1 = (__m512bh)_mm512_loadu_si512(b + s * 32 + 32);
        for (int r = 0; r < 8; r++) {
            int32_t pair;
            __builtin_memcpy(&pair, a + r * lda + s, sizeof pair);
            __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
            lo[r] = _mm512_dpbf16_ps(lo[r], x, b0);
            hi[r] = _mm512_dpbf16_ps(hi[r], x, b1);
        }
    }
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_ps(c + r * ldc, lo[r]);
        _mm512_storeu_ps(c + r * ldc + 16, hi[r]);
    }
}

#if defined(__AMX_BF16__)
/* TDPBF16PS on four 16x16 float32 accumulator tiles from two A and two B tiles of 16 x 32 bf16:
 * once with the operands kept in tiles, once reloading them from L1 each step as a GEMM's
 * inner loop does. */
struct tile_config { uint8_t palette; uint8_t start_row; uint8_t reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } __attribute__((packed));

static void amx_peaks(long iterations) {
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) {
        printf("AMX: not available here (arch_prctl refused the tile state)\n");
        return;
    }
    struct tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) { config.rows[t] = 16; config.colsb[t] = 64; }
    _tile_loadconfig(&config);
    static uint16_t a[2][16 * 32], b[2][16 * 32];
    static float c[16 * 16];
    for (int i = 0; i < 16 * 32; i++) { a[0][i] = a[1][i] = 0x3f80; b[0][i] = b[1][i] = 0x3c00; }
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, a[0], 64); _tile_loadd(5, a[1], 64); _tile_loadd(6, b[0], 64); _tile_loadd(7, b[1], 64);
    double t0 = now();
    for (long i = 0; i < iterations; i++) {
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    double t1 = now();
    for (long i = 0; i < iterations; i++) {
        _tile_loadd(4, a[0], 64); _tile_loadd(6, b[0], 64); _tile_loadd(5, a[1], 64); _tile_loadd(7, b[1], 64);
        _tile_dpbf16ps(0, 4, 6); _tile_dpbf16ps(1, 4, 7); _tile_dpbf16ps(2, 5, 6); _tile_dpbf16ps(3, 5, 7);
    }
    double t2 = now();
    _tile_stored(0, c, 64);
    _tile_release();
    double flops = 4.0 * iterations * 16 * 16 * 32 * 2;
    printf("AMX TDPBF16PS: %.0f GFLOP/s in tiles, %.0f GFLOP/s reloading A and B from L1 [%g]\n",
           flops / (t1 - t0) / 1e9, flops / (t2 - t1) / 1e9, (double)c[0]);
}
#endif

static volatile float sink; /* keeps the peak loops' results, so that they are computed */

int main(void) {
    enum { M = 128, N = 256, K = 256, REPEATS = 20 }; /* iresnet100's 14x14 Winograd GEMMs at batch 8 */
    const long iterations = 20000000;
    float *a = aligned_alloc(64, 4 * M * K), *b = aligned_alloc(64, 4 * K * N), *c = aligned_alloc(64, 4 * M * N);
    uint16_t *ah = aligned_alloc(64, 2 * M * K), *bh = aligned_alloc(64, 2 * K * N);
    for (int i = 0; i < M * K; i++) { a[i] = 1 + (i % 7) / 8.0f; ah[i] = 0x3f80 + i % 7; }
    for (int i = 0; i < K * N; i++) { b[i] = 1 + (i % 5) / 8.0f; bh[i] = 0x3f80 + i % 5; }
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        sink = fma_peak(iterations);
        double t1 = now();
        sink = bf16_peak(iterations);
        double t2 = now();
        double best32 = 1e9, best16 = 1e9;
        for (int rep = 0; rep < REPEATS; rep++) {
            double u0 = now();
            for (int p = 0; p < N / 32; p++)
                for (int r = 0; r < M; r += 8) f32_kernel(K, a + r * K, K, b + p * K * 32, c + r * N + p * 32, N);
            double u1 = now();
            for (int p = 0; p < N / 32; p++)
                for (int r = 0; r < M; r += 8) bf16_kernel(K, ah + r * K, K, bh + p * K * 32, c + r * N + p * 32, N);
            double u2 = now();
            if (u1 - u0 < best32) best32 = u1 - u0;
            if (u2 - u1 < best16) best16 = u2 - u1;
        }
        double gemm = 2.0 * M * N * K;
        printf("round %d: peak FMA %.1f GFLOP/s, VDPBF16PS %.1f GFLOP/s (%.2fx); GEMM %dx%dx%d float32 %.1f, bf16 %.1f GFLOP/s (%.2fx)\n",
               round + 1, iterations * CHAINS * 32 / (t1 - t0) / 1e9, iterations * CHAINS * 64 / (t2 - t1) / 1e9,
               ((t1 - t0) * 2) / (t2 - t1), M, N, K, gemm / best32 / 1e9, gemm / best16 / 1e9, best32 / best16);
    }
#if defined(__AMX_BF16__)
    for (int round = 0; round < 3; round++) amx_peaks(iterations / 4);
#endif
    return 0;
}
