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

/// `FMAPeak` on 8-lane vectors (AVX2 + FMA), for CPUs without AVX-512.
enum FMAPeak8 {
    static let flopsPerIteration = 12 * 8 * 2

    @inline(never)
    static func run(iterations: Int, seed: Float = 1) -> Float {
        typealias V = SIMD8<Float>
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
