/// The one search kernel compiled for AVX2 + FMA (Package.swift, `vectorized`): a query's dot
/// product with consecutive stored rows. FeatureStore calls it only where the CPU has both
/// (`HostCPU`); elsewhere it runs its own baseline copy of the same loop. Kept apart so that
/// the store, the merge and the query stay runnable on any x86-64 host.

/// `out[r] = dot(rows[r], query)` for `count` consecutive rows of `dim` floats: four rows at a
/// time against one load of the query, 16 lanes (two ymm registers) wide, fused multiply-adds.
public func searchDots(_ rows: UnsafePointer<Float>, count: Int, dim: Int, query: UnsafePointer<Float>,
                       into out: UnsafeMutablePointer<Float>) {
    let raw = UnsafeRawPointer(rows), q = UnsafeRawPointer(query)
    let vector = dim / 16 * 16, stride = dim * 4
    var r = 0
    while r + 4 <= count {
        var a0 = SIMD16<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
        let o = r * stride
        var j = 0
        while j < vector {
            let x = q.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self)
            a0.addProduct(raw.loadUnaligned(fromByteOffset: o + j * 4, as: SIMD16<Float>.self), x)
            a1.addProduct(raw.loadUnaligned(fromByteOffset: o + stride + j * 4, as: SIMD16<Float>.self), x)
            a2.addProduct(raw.loadUnaligned(fromByteOffset: o + 2 * stride + j * 4, as: SIMD16<Float>.self), x)
            a3.addProduct(raw.loadUnaligned(fromByteOffset: o + 3 * stride + j * 4, as: SIMD16<Float>.self), x)
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

/// The sum of `count` floats, read once with four independent accumulators: a scan's
/// memory-bandwidth floor (what `query --benchmark` compares a query with).
public func searchSum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(values)
    var a0 = SIMD16<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
    var i = 0
    while i + 64 <= count {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        a1 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
        a2 += raw.loadUnaligned(fromByteOffset: i * 4 + 128, as: SIMD16<Float>.self)
        a3 += raw.loadUnaligned(fromByteOffset: i * 4 + 192, as: SIMD16<Float>.self)
        i += 64
    }
    var total = (a0 + a1 + a2 + a3).sum()
    while i < count { total += values[i]; i += 1 }
    return total
}
