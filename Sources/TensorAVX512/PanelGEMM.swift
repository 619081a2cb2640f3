internal import CPrefetch

/// A single-precision GEMM for AVX-512 CPUs whose right-hand operand is prepacked, so that a
/// call reads its operands in place: no packing pass and no clearing of the result, which
/// OpenBLAS does on every call. The Winograd convolution uses it for its 36 GEMMs per layer,
/// whose right-hand operands (the transformed weights) are packed once, at load.
///
/// This target is compiled for AVX-512 (Package.swift: `avx512`). Call it only where
/// `HostCPU.hasAVX512` holds: any function here may use AVX-512 instructions.
///
/// Layout: `b` (`k x n`, `n` a multiple of 32) is held as `n / 32` panels of 32 columns, each
/// `[k, 32]` row-major (`WinogradWeights` and `BlockedWeights` pack them at load). The kernel
/// computes up to 8 rows x 32 columns of `c` in sixteen 16-lane accumulators: per step of `k`,
/// two loads of the panel, one broadcast from `a` per row and two FMAs per row. It keeps one
/// panel in L1 while it walks down the rows of `a`.
public enum PanelGEMM {
    /// Columns per panel.
    public static let panelWidth = 32

    /// The most rows one kernel call computes: 8 x 32 takes 16 accumulators, plus two panel
    /// vectors and a broadcast, 19 of the 32 vector registers.
    static let maxRows = 8

    typealias Vector = SIMD16<Float>

    /// `c = a × b` with `b` in panels: `a` is `m x k` (leading dimension `lda`), `c` is `m x n`
    /// (leading dimension `ldc`), `n` a multiple of 32.
    public static func multiply(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        precondition(n % panelWidth == 0, "PanelGEMM needs a multiple of \(panelWidth) columns, got \(n)")
        let panelFloats = k * panelWidth, lines = panelFloats / 16
        // Rows in blocks of at most `maxRows`, as even as possible (16 rows: 8 + 8, not
        // 6 + 6 + 4), so that no block leaves most of the FMA units idle.
        let blocks = (m + maxRows - 1) / maxRows
        for p in 0..<(n / panelWidth) {
            let b = panels + p * panelFloats, cp = c + p * panelWidth
            // The next panel is streamed into L2 while this one is used from L1: each block of
            // rows prefetches its share of the next panel's cache lines, one per step of k. After
            // the last panel, the lines that follow it (where a caller keeps its next operand,
            // as the Winograd GEMMs do); a prefetch never faults, wherever it points.
            let next = b + panelFloats
            func fetch(_ block: Int) -> (UnsafePointer<Float>, Int) {
                let first = min(block * k, lines)
                return (next + first * 16, min(k, lines - first))
            }
            for block in 0..<blocks {
                let r = m * block / blocks, rows = m * (block + 1) / blocks - r
                let (ar, cr) = (a + r * lda, cp + r * ldc)
                let (pf, count) = fetch(block)
                switch rows {
                case 8: kernel(InlineArray<8, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 7: kernel(InlineArray<7, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 6: kernel(InlineArray<6, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 5: kernel(InlineArray<5, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 4: kernel(InlineArray<4, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 3: kernel(InlineArray<3, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 2: kernel(InlineArray<2, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                default: kernel(InlineArray<1, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                }
            }
        }
    }

    /// `R` rows (1…8) of `a` times one panel into `R x 32` of `c`. `R` is a value generic, so
    /// each size gets its own fully unrolled body with the accumulators in registers. Step
    /// `i < prefetchLines` also prefetches cache line `i` from `prefetch`.
    @inline(__always)
    static func kernel<let R: Int>(
        _ rows: InlineArray<R, Int>.Type, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
        prefetch: UnsafePointer<Float>, prefetchLines: Int
    ) {
        var low = InlineArray<R, Vector>(repeating: Vector()), high = InlineArray<R, Vector>(repeating: Vector())
        var panel = UnsafeRawPointer(b)
        var column = a
        for step in 0..<k {
            if step < prefetchLines { magfleet_prefetch(prefetch + step * 16) }
            let b0 = panel.loadUnaligned(as: Vector.self)
            let b1 = panel.loadUnaligned(fromByteOffset: 64, as: Vector.self)
            panel += 128
            for r in 0..<R {
                let x = Vector(repeating: column[r * lda])
                low[r] = low[r].addingProduct(x, b0)
                high[r] = high[r].addingProduct(x, b1)
            }
            column += 1
        }
        for r in 0..<R {
            UnsafeMutableRawPointer(c + r * ldc).storeBytes(of: low[r], as: Vector.self)
            UnsafeMutableRawPointer(c + r * ldc + 16).storeBytes(of: high[r], as: Vector.self)
        }
    }
}
