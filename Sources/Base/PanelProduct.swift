public import CPrefetch

extension VectorKernels {
    /// `c = a × b` with `b` prepacked in panels, so that a call reads its operands in place: no
    /// packing pass and no clearing of the result, which OpenBLAS does on every call. The
    /// engine's GEMMs (`PanelGEMM`, Tensor) run on it, one copy per instruction set: `V` is
    /// `SIMD16<Float>` in TensorAVX512, `SIMD8<Float>` in Tensor (AVX2 + FMA).
    ///
    /// Layout: a panel is two vectors wide, `w = 2·V.scalarCount` columns (32 on 16 lanes, 16 on
    /// 8); `b` (`k x n`, `n` a multiple of `w`) is held as `n / w` panels, each `[k, w]`
    /// row-major and contiguous. `a` is `m x k` (leading dimension `lda`), `c` `m x n` (`ldc`).
    /// One kernel call computes up to `maxRows` rows x `w` columns of `c` in `2·maxRows`
    /// accumulators: per step of `k`, two loads from the panel, one broadcast from `a` per row
    /// and two FMAs per row (AVX-512: 8 rows, 16 accumulators, 2 panel vectors and a broadcast,
    /// 19 of 32 registers; AVX2: 6 rows, 15 of 16). The panel stays in L1 while the kernel walks
    /// down the rows of `a`.
    @inlinable @inline(__always)
    public static func panelProduct<V: SIMD>(
        _: V.Type, maxRows: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) where V.Scalar == Float {
        let width = 2 * V.scalarCount
        precondition(n % width == 0, "a panel product needs a multiple of \(width) columns, got \(n)")
        let panelFloats = k * width, lines = panelFloats / 16
        // Rows in blocks of at most `maxRows`, as even as possible (16 rows: 8 + 8, not
        // 6 + 6 + 4), so that no block leaves most of the FMA units idle.
        let blocks = (m + maxRows - 1) / maxRows
        for p in 0..<(n / width) {
            let b = panels + p * panelFloats, cp = c + p * width
            // The next panel is streamed into L2 while this one is used from L1: each block of
            // rows prefetches its share of the next panel's cache lines, one per step of k.
            // After the last panel, the lines that follow it (where a caller keeps its next
            // operand, as the Winograd GEMMs do); a prefetch never faults, wherever it points.
            let next = b + panelFloats
            for block in 0..<blocks {
                let r = m * block / blocks, rows = m * (block + 1) / blocks - r
                let (ar, cr) = (a + r * lda, cp + r * ldc)
                let first = min(block * k, lines)
                let (pf, count) = (next + first * 16, min(k, lines - first))
                switch rows {
                case 8: panelKernel(V.self, InlineArray<8, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 7: panelKernel(V.self, InlineArray<7, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 6: panelKernel(V.self, InlineArray<6, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 5: panelKernel(V.self, InlineArray<5, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 4: panelKernel(V.self, InlineArray<4, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 3: panelKernel(V.self, InlineArray<3, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                case 2: panelKernel(V.self, InlineArray<2, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                default: panelKernel(V.self, InlineArray<1, Int>.self, k, ar, lda, b, cr, ldc, prefetch: pf, prefetchLines: count)
                }
            }
        }
    }

    /// `R` rows (1…8) of `a` times one panel (`2·V.scalarCount` columns) into
    /// `R x 2·V.scalarCount` of `c`. `R` is a value generic, so each row count gets its own
    /// fully unrolled body with the accumulators in registers. Step `i < prefetchLines` also
    /// prefetches cache line `i` from `prefetch`.
    @inlinable @inline(__always)
    public static func panelKernel<V: SIMD, let R: Int>(
        _: V.Type, _ rows: InlineArray<R, Int>.Type, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
        _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
        prefetch: UnsafePointer<Float>, prefetchLines: Int
    ) where V.Scalar == Float {
        let lanes = V.scalarCount
        var low = InlineArray<R, V>(repeating: V()), high = InlineArray<R, V>(repeating: V())
        var panel = UnsafeRawPointer(b)
        var column = a
        for step in 0..<k {
            // Wrapping arithmetic in the loop: the offsets are far from overflowing, and the
            // checks would be instructions of every step.
            if step < prefetchLines { magfleet_prefetch(prefetch + step &* 16) }
            let b0 = panel.loadUnaligned(as: V.self)
            let b1 = panel.loadUnaligned(fromByteOffset: lanes &* 4, as: V.self)
            panel += lanes &* 8
            for r in 0..<R {
                let x = V(repeating: column[r &* lda])
                low[r] = low[r].addingProduct(x, b0)
                high[r] = high[r].addingProduct(x, b1)
            }
            column += 1
        }
        for r in 0..<R {
            UnsafeMutableRawPointer(c + r * ldc).storeBytes(of: low[r], as: V.self)
            UnsafeMutableRawPointer(c + r * ldc + lanes).storeBytes(of: high[r], as: V.self)
        }
    }
}
