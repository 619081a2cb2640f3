/// The single-precision FMA peak of one core, measured: twelve independent chains of 16-lane
/// fused multiply-adds (enough to cover the FMA latency on both FMA ports of the CPUs here),
/// nothing loaded or stored inside the loop.
///
/// This target is compiled for AVX-512: call it only where `HostCPU.hasAVX512` holds.
public enum FMAPeak {
    /// FLOPs of one `run(iterations:)` step: 12 chains x 16 lanes x 2 (multiply and add).
    public static let flopsPerIteration = 12 * 16 * 2

    /// Runs `iterations` steps of the 12 chains and returns a value that depends on all of
    /// them (so that the optimizer keeps every FMA).
    @inline(never)
    public static func run(iterations: Int, seed: Float = 1) -> Float {
        typealias V = SIMD16<Float>
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
}
