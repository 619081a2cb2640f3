import Base
import SearchAVX2
import Testing

/// The AVX2 + FMA dot kernel and its floor against float64 sums, on a dim that is not a
/// multiple of 16 and a row count that is not a multiple of 4 (every tail path). Tolerance:
/// 1e-5 of the sum of |products| (float32 accumulation in a different order).
@Suite(.enabled(if: HostCPU.flags.contains("avx2") && HostCPU.flags.contains("fma"), "the CPU has no AVX2 + FMA"))
struct SearchKernelTests {
    @Test func dotsAndSumMatchFloat64() {
        var rng = SeededGenerator(seed: 17)
        let rows = 39, dim = 515
        let matrix = (0..<(rows * dim)).map { _ in Float.random(in: -3...3, using: &rng) }
        let query = (0..<dim).map { _ in Float.random(in: -1...1, using: &rng) }
        var out = [Float](repeating: .nan, count: rows)
        matrix.withUnsafeBufferPointer { m in
            query.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    searchDots(m.baseAddress!, count: rows, dim: dim, query: q.baseAddress!, into: o.baseAddress!)
                }
            }
        }
        for r in 0..<rows {
            let products = (0..<dim).map { Double(matrix[r * dim + $0]) * Double(query[$0]) }
            let scale = products.reduce(0) { $0 + abs($1) }
            #expect(abs(Double(out[r]) - products.reduce(0, +)) <= 1e-5 * scale, "row \(r)")
        }
        let sum = matrix.withUnsafeBufferPointer { searchSum($0.baseAddress!, count: matrix.count) }
        let exact = matrix.reduce(0.0) { $0 + Double($1) }, scale = matrix.reduce(0.0) { $0 + abs(Double($1)) }
        #expect(abs(Double(sum) - exact) <= 1e-5 * scale)
    }
}
