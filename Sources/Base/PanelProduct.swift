public import CPrefetch

extension VectorKernels {
    /// Columns per panel of `panelProduct`'s prepacked right-hand operand (a literal, so that
    /// every caller's copy of the kernel folds it).
    @inlinable public static var panelWidth: Int { 32 }

    /// `c = a × b` with `b` prepacked in panels, so that a call reads its operands in place: no
    /// packing pass and no clearing of the result, which OpenBLAS does on every call. The
    /// engine's GEMMs (`PanelGEMM`, Tensor) run on it, one copy per instruction set: `V` is
    /// `SIMD16<Float>` in TensorAVX512, `SIMD8<Float>` in Tensor (AVX2 + FMA).
    ///
    /// Layout: `b` (`k x n`, `n` a multiple of 32) is held as `n / 32` panels of 32 columns,
    /// each `[k, 32]` row-major. `a` is `m x k` (leading dimension `lda`), `c` `m x n` (`ldc`).
    /// One kernel call computes up to `maxRows` rows x `2·V.scalarCount` columns of `c` in
    /// `2·maxRows` accumulators: per step of `k`, two loads from the panel, one broadcast from
    /// `a` per row and two FMAs per row. A 16-lane kernel covers a panel's 32 columns at once
    /// (8 rows: 16 accumulators, 2 panel vectors and a broadcast, 19 of AVX-512's 32 registers);
    /// an 8-lane one covers them in two column groups of 16 (6 rows: 15 of AVX2's 16 registers),
    /// each group's `[k, 16]` staying in L1 while the kernel walks down the rows of `a`.
    @inlinable @inline(__always)
    public static func panelProduct<V: SIMD>(
        _: V.Type, maxRows: Int, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        panels: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int
    ) where V.Scalar == Float {
        precondition(n % panelWidth == 0, "a panel product needs a multiple of \(panelWidth) columns, got \(n)")
        // One or two rows (the fc at batches 1 and 2) on 8 lanes: the whole panel width per
        // call, four vectors a row, so that each panel is read once (the fc's are 3 MB, read
        // from memory), not once per column group.
        if 4 * V.scalarCount == panelWidth && m <= 2 {
            for p in 0..<(n / panelWidth) {
                let b = panels + p * k * panelWidth, cp = c + p * panelWidth
                if m == 2 {
                    panelKernel(V.self, InlineArray<2, Int>.self, InlineArray<4, Int>.self, k, a, lda, b, cp, ldc, prefetch: b, prefetchLines: 0)
                } else {
                    panelKernel(V.self, InlineArray<1, Int>.self, InlineArray<4, Int>.self, k, a, lda, b, cp, ldc, prefetch: b, prefetchLines: 0)
                }
            }
            return
        }
        let columns = 2 * V.scalarCount, groups = panelWidth / columns
        let panelFloats = k * panelWidth, lines = panelFloats / 16
        // Rows in blocks of at most `maxRows`, as even as possible (16 rows: 8 + 8, not
        // 6 + 6 + 4), so that no block leaves most of the FMA units idle.
        let blocks = (m + maxRows - 1) / maxRows
        for p in 0..<(n / panelWidth) {
            let b = panels + p * panelFloats, cp = c + p * panelWidth
            // The next panel is streamed into L2 while this one is used from L1: each call of
            // the kernel prefetches its share of the next panel's cache lines, one per step of k.
            // After the last panel, the lines that follow it (where a caller keeps its next
            // operand, as the Winograd GEMMs do); a prefetch never faults, wherever it points.
            let next = b + panelFloats
            for group in 0..<groups {
                for block in 0..<blocks {
                    let r = m * block / blocks, rows = m * (block + 1) / blocks - r
                    let (ar, bg, cr) = (a + r * lda, b + group * columns, cp + r * ldc + group * columns)
                    let first = min((group * blocks + block) * k, lines)
                    let (pf, count) = (next + first * 16, min(k, lines - first))
                    typealias Two = InlineArray<2, Int>
                    switch rows {
                    case 8: panelKernel(V.self, InlineArray<8, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 7: panelKernel(V.self, InlineArray<7, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 6: panelKernel(V.self, InlineArray<6, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 5: panelKernel(V.self, InlineArray<5, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 4: panelKernel(V.self, InlineArray<4, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 3: panelKernel(V.self, InlineArray<3, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    case 2: panelKernel(V.self, InlineArray<2, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    default: panelKernel(V.self, InlineArray<1, Int>.self, Two.self, k, ar, lda, bg, cr, ldc, prefetch: pf, prefetchLines: count)
                    }
                }
            }
        }
    }

    /// `R` rows (1…8) of `a` times `C·V.scalarCount` columns of one panel (rows 32 floats
    /// apart) into `R x C·V.scalarCount` of `c`. `R` and `C` are value generics, so each shape
    /// gets its own fully unrolled body with the accumulators in registers. Step
    /// `i < prefetchLines` also prefetches cache line `i` from `prefetch`.
    @inlinable @inline(__always)
    public static func panelKernel<V: SIMD, let R: Int, let C: Int>(
        _: V.Type, _ rows: InlineArray<R, Int>.Type, _ vectors: InlineArray<C, Int>.Type, _ k: Int,
        _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
        prefetch: UnsafePointer<Float>, prefetchLines: Int
    ) where V.Scalar == Float {
        let lanes = V.scalarCount
        var sums = InlineArray<R, InlineArray<C, V>>(repeating: InlineArray<C, V>(repeating: V()))
        var panel = UnsafeRawPointer(b)
        var column = a
        for step in 0..<k {
            if step < prefetchLines { magfleet_prefetch(prefetch + step * 16) }
            var w = InlineArray<C, V>(repeating: V())
            for v in 0..<C { w[v] = panel.loadUnaligned(fromByteOffset: v * lanes * 4, as: V.self) }
            panel += panelWidth * 4
            for r in 0..<R {
                let x = V(repeating: column[r * lda])
                for v in 0..<C { sums[r][v] = sums[r][v].addingProduct(x, w[v]) }
            }
            column += 1
        }
        for r in 0..<R {
            for v in 0..<C { UnsafeMutableRawPointer(c + r * ldc + v * lanes).storeBytes(of: sums[r][v], as: V.self) }
        }
    }
}
