/// A small, fast, seeded generator (SplitMix64): the same seed gives the same weights on
/// every platform.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    mutating func uniform(_ lo: Double, _ hi: Double) -> Float { Float(lo + (hi - lo) * uniform()) }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random weights for benchmarks and demos. Convolutions are normal with variance 1/fan-in;
/// the last BatchNorm of each block gets small weights (0.05-0.15) so that the residual sum
/// grows slowly and iresnet100's activations stay finite and away from denormals.
enum RandomWeights {
    static func values(for p: WeightMap.Parameter, config: IResNetConfig, rng: inout SplitMix64) -> [Float] {
        let n = p.shape.reduce(1, *)
        let isBlockOutput = p.key.contains(".bn3.")
        switch p.role {
        case .convWeight, .fcWeight:
            let fanIn = p.shape.dropFirst().reduce(1, *)
            let std = (1.0 / Double(fanIn)).squareRoot()
            return (0..<n).map { _ in Float(rng.normal() * std) }
        case .fcBias, .bnBias, .bnMean: return (0..<n).map { _ in rng.uniform(-0.1, 0.1) }
        case .bnWeight: return (0..<n).map { _ in isBlockOutput ? rng.uniform(0.05, 0.15) : rng.uniform(0.8, 1.2) }
        case .bnVar: return (0..<n).map { _ in rng.uniform(0.5, 1.5) }
        case .prelu: return (0..<n).map { _ in rng.uniform(0.2, 0.3) }
        }
    }
}
