import Base

/// The one search kernel compiled for AVX2 + FMA (Package.swift, `vectorized`): a query's dot
/// product with consecutive stored rows. FeatureStore calls it only where the CPU has both
/// (`HostCPU`); elsewhere it inlines the same loop (`VectorKernels.dots`) built for the
/// baseline. Kept apart so that the store, the merge and the query stay runnable on any
/// x86-64 host.

/// `out[r] = dot(rows[r], query)` for `count` consecutive rows of `dim` floats
/// (`VectorKernels.dots` with fused multiply-adds, compiled here for AVX2 + FMA).
public func searchDots(_ rows: UnsafePointer<Float>, count: Int, dim: Int, query: UnsafePointer<Float>,
                       into out: UnsafeMutablePointer<Float>) {
    VectorKernels.dots(rows, count: count, dim: dim, query: query, into: out, fused: true)
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
