/// Loops that targets built for different instruction sets share: each is `@inlinable` and
/// always inlined, so every caller compiles its own copy with its own target's flags
/// (TensorAVX512 for AVX-512, Tensor and SearchAVX2 for AVX2 + FMA, FeatureStore for the
/// baseline). Written once here; never called through a function pointer of Base's own copy,
/// which is built for the baseline and would be slow.
public enum VectorKernels {
    /// Twelve independent chains of fused multiply-adds on `V` (enough to cover the FMA latency
    /// on both FMA ports of the CPUs here), nothing loaded or stored in the loop; returns a value
    /// that depends on all of them, so that the optimizer keeps every FMA. One core's FMA peak
    /// when the caller is compiled for `V`'s width (`FMAPeak`, `FMACeiling`).
    @inlinable @inline(__always)
    public static func fmaChains<V: SIMD>(_: V.Type, iterations: Int, seed: Float) -> Float where V.Scalar == Float {
        let a = V(repeating: 0.999_999), b = V(repeating: 1e-7 * seed)
        var c0 = V(repeating: seed), c1 = c0 + 1, c2 = c0 + 2, c3 = c0 + 3
        var c4 = c0 + 4, c5 = c0 + 5, c6 = c0 + 6, c7 = c0 + 7
        var c8 = c0 + 8, c9 = c0 + 9, c10 = c0 + 10, c11 = c0 + 11
        for _ in 0..<iterations {
            c0 = c0.addingProduct(a, b); c1 = c1.addingProduct(a, b); c2 = c2.addingProduct(a, b)
            c3 = c3.addingProduct(a, b); c4 = c4.addingProduct(a, b); c5 = c5.addingProduct(a, b)
            c6 = c6.addingProduct(a, b); c7 = c7.addingProduct(a, b); c8 = c8.addingProduct(a, b)
            c9 = c9.addingProduct(a, b); c10 = c10.addingProduct(a, b); c11 = c11.addingProduct(a, b)
        }
        let s = (c0 + c1 + c2 + c3) + (c4 + c5 + c6 + c7) + (c8 + c9 + c10 + c11)
        return s.sum()
    }

    /// `out[r] = dot(rows[r], query)` for `count` consecutive rows of `dim` floats: four rows
    /// at a time against one load of the query, 16 lanes wide. `fused`: fused multiply-adds
    /// (callers built with FMA); otherwise a multiply and an add (the baseline, where a fused
    /// multiply-add would be a library call per lane). One query is bound by the read of the
    /// rows: OpenBLAS 0.3.21's sgemv on an unnamed Xeon (its generic Prescott kernel) ran at
    /// 0.55x of a plain streaming read, this at the read's speed (docs/performance.md).
    @inlinable @inline(__always)
    public static func dots(_ rows: UnsafePointer<Float>, count: Int, dim: Int, query: UnsafePointer<Float>,
                            into out: UnsafeMutablePointer<Float>, fused: Bool) {
        typealias V = SIMD16<Float>
        let raw = UnsafeRawPointer(rows), q = UnsafeRawPointer(query)
        let vector = dim / 16 * 16, stride = dim * 4
        @inline(__always) func accumulate(_ a: inout V, _ x: V, _ y: V) {
            if fused { a.addProduct(x, y) } else { a += x * y }
        }
        var r = 0
        while r + 4 <= count {
            var a0 = V(repeating: 0), a1 = a0, a2 = a0, a3 = a0
            let o = r * stride
            var j = 0
            while j < vector {
                let x = q.loadUnaligned(fromByteOffset: j * 4, as: V.self)
                accumulate(&a0, raw.loadUnaligned(fromByteOffset: o + j * 4, as: V.self), x)
                accumulate(&a1, raw.loadUnaligned(fromByteOffset: o + stride + j * 4, as: V.self), x)
                accumulate(&a2, raw.loadUnaligned(fromByteOffset: o + 2 * stride + j * 4, as: V.self), x)
                accumulate(&a3, raw.loadUnaligned(fromByteOffset: o + 3 * stride + j * 4, as: V.self), x)
                j += 16
            }
            var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
            while j < dim {
                let x = query[j]
                s0 += rows[r * dim + j] * x
                s1 += rows[(r + 1) * dim + j] * x
                s2 += rows[(r + 2) * dim + j] * x
                s3 += rows[(r + 3) * dim + j] * x
                j += 1
            }
            out[r] = s0; out[r + 1] = s1; out[r + 2] = s2; out[r + 3] = s3
            r += 4
        }
        while r < count {
            var sum: Float = 0
            for j in 0..<dim { sum += rows[r * dim + j] * query[j] }
            out[r] = sum
            r += 1
        }
    }
}
