import Base
import Tensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Random weights for benchmarks and demos. Convolutions are normal with variance 1/fan-in;
/// the last BatchNorm of each block gets small weights (0.05-0.15) so that the residual sum
/// grows slowly and iresnet100's activations stay finite and away from denormals.
enum RandomWeights {
    static func values(for p: WeightMap.Parameter, config: IResNetConfig, rng: inout SeededGenerator) -> [Float] {
        let n = p.shape.reduce(1, *)
        let isBlockOutput = p.key.contains(".bn3.")
        switch p.role {
        case .convWeight, .fcWeight:
            let fanIn = p.shape.dropFirst().reduce(1, *)
            let std = (1.0 / Double(fanIn)).squareRoot()
            return (0..<n).map { _ in Float(rng.normal() * std) }
        case .fcBias, .bnBias, .bnMean: return (0..<n).map { _ in Float(rng.uniform(-0.1, 0.1)) }
        case .bnWeight: return (0..<n).map { _ in isBlockOutput ? Float(rng.uniform(0.05, 0.15)) : Float(rng.uniform(0.8, 1.2)) }
        case .bnVar: return (0..<n).map { _ in Float(rng.uniform(0.5, 1.5)) }
        case .prelu: return (0..<n).map { _ in Float(rng.uniform(0.2, 0.3)) }
        }
    }
}
