import Base
import Dispatch
import TensorAVX512

/// The measured single-precision FMA peak of one core, the ceiling `magfleet bench` compares
/// the engine against.
public enum FMACeiling {
    /// FLOP/s of one core: the best of `rounds` runs of 12 independent FMA chains
    /// (`FMAPeak` on 16 lanes on an AVX-512 CPU, 8 lanes otherwise), each about `seconds` long,
    /// on the calling thread.
    public static func measure(rounds: Int = 5, seconds: Double = 0.1) -> Double {
        let avx512 = HostCPU.hasAVX512
        let flopsPerIteration = Double(avx512 ? FMAPeak.flopsPerIteration : FMAPeak8.flopsPerIteration)
        func run(_ iterations: Int) -> (Double, Float) {
            let start = DispatchTime.now().uptimeNanoseconds
            let v = avx512 ? FMAPeak.run(iterations: iterations) : FMAPeak8.run(iterations: iterations)
            return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, v)
        }
        // Calibrate the step count to the time asked for.
        var iterations = 1 << 16
        while run(iterations).0 < seconds / 4 && iterations < 1 << 34 { iterations *= 2 }
        iterations = Int(Double(iterations) * seconds / max(run(iterations).0, 1e-9))
        var best = 0.0, sink: Float = 0
        for _ in 0..<rounds {
            let (t, v) = run(iterations)
            sink += v
            best = max(best, Double(iterations) * flopsPerIteration / t)
        }
        withExtendedLifetime(sink) {}
        return best
    }
}

/// `FMAPeak` on 8-lane vectors (AVX2 + FMA, this target's flags), for CPUs without AVX-512.
enum FMAPeak8 {
    static let flopsPerIteration = 12 * 8 * 2

    @inline(never)
    static func run(iterations: Int, seed: Float = 1) -> Float {
        VectorKernels.fmaChains(SIMD8<Float>.self, iterations: iterations, seed: seed)
    }
}
