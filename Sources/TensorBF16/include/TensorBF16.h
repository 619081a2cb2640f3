// The bfloat16 kernels of `--precision bf16`: AVX512_BF16's VDPBF16PS (pairs of bf16 products
// summed into float32 lanes) for the Winograd GEMMs, and the float32 -> bf16 conversion of their
// left operands. Written in C because Swift has no bf16 vector type to spell the instruction
// with; compiled for AVX512F + AVX512_BF16 (Package.swift), so call it only where
// `HostCPU.hasAVX512BF16` holds. docs/engine.md, "bf16", says what it computes and how exact.
#ifndef MAGFLEET_TENSORBF16_H
#define MAGFLEET_TENSORBF16_H

#include <stdint.h>

/// Columns per panel of the right-hand operand, as `PanelGEMM.panelWidth`.
#define MAGFLEET_BF16_PANEL_WIDTH 32

/// Rounds `count` floats at `source` to bfloat16 (round to nearest even) and writes them, in
/// order, as `count` 16-bit values at `target`. `target` may be `source` (the conversion then
/// runs in place, the bf16 values in the first half of the floats' bytes).
void magfleet_bf16_convert(const float *source, uint16_t *target, long count);

/// `c = a x b` with float32 accumulation: `a` is `m x k` bf16, row-major with `lda` values a
/// row; `b` (`k x n`, `n` a multiple of 32, `k` even) is held as `n / 32` panels, each
/// `k / 2` rows of 32 pairs: the pair `(b[2t][j], b[2t+1][j])` of panel column `j` in one 32-bit
/// word, the even row in the low half. `c` is `m x n` float32, leading dimension `ldc`,
/// overwritten.
void magfleet_bf16_gemm(long m, long n, long k, const uint16_t *a, long lda, const uint32_t *panels, float *c, long ldc);

#endif
