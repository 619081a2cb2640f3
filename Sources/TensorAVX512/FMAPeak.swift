import Base

/// The single-precision FMA peak of one core, measured: `VectorKernels.fmaChains` on 16-lane
/// vectors, compiled here for AVX-512.
///
/// This target is compiled for AVX-512: call it only where `HostCPU.hasAVX512` holds.
public enum FMAPeak {
    /// FLOPs of one `run(iterations:)` step: 12 chains x 16 lanes x 2 (multiply and add).
    public static let flopsPerIteration = 12 * 16 * 2

    /// Runs `iterations` steps of the 12 chains and returns a value that depends on all of them.
    @inline(never)
    public static func run(iterations: Int, seed: Float = 1) -> Float {
        VectorKernels.fmaChains(SIMD16<Float>.self, iterations: iterations, seed: seed)
    }
}
