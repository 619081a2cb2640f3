import Foundation
import Base

/// A synthetic feature table for benchmarks and demos: `identities` random unit centres,
/// probes = centre + Gaussian noise, distractors = Gaussian noise; norms vary with the noise
/// so that the MagFace reject curve has something to reject. Deterministic per seed.
extension FeatureTable {
    public static func synthetic(rows: Int, dimension d: Int, probes: Int, identities: Int, seed: UInt64 = 7) throws -> FeatureTable {
        guard rows >= probes, probes >= identities, identities >= 1, d >= 2 else {
            throw EvaluationError.badOption("synthetic \(rows) rows, \(probes) probes, \(identities) identities, dim \(d)")
        }
        var rng = SeededGenerator(seed: seed)
        func gauss() -> Float {  // Box-Muller
            let u = Float.random(in: Float.leastNormalMagnitude..<1, using: &rng), v = Float.random(in: 0..<1, using: &rng)
            return (-2 * logf(u)).squareRoot() * cosf(2 * .pi * v)
        }
        var centres = [Float](repeating: 0, count: identities * d)
        for i in 0..<identities {
            var s: Float = 0
            for j in 0..<d { let g = gauss(); centres[i * d + j] = g; s += g * g }
            for j in 0..<d { centres[i * d + j] /= s.squareRoot() }
        }
        var e = [Float](repeating: 0, count: rows * d)
        var labels = [Int](repeating: -1, count: rows)
        var paths = [String]()
        paths.reserveCapacity(rows)
        let noise = 0.8 / Float(d).squareRoot()
        for r in 0..<rows {
            if r < probes {
                let id = r % identities
                labels[r] = id
                // Every 50th probe is drawn from the next identity's centre: a hard, wrong case.
                let centre = r % 50 == 49 ? (id + 1) % identities : id
                // Low quality: more noise and a lower norm; the wrong cases are low quality, as in MagFace.
                let quality = r % 50 == 49 ? Float.random(in: 0.3...0.4, using: &rng) : Float.random(in: 0.3...1.0, using: &rng)
                let scale = 10 + 30 * quality
                for j in 0..<d { e[r * d + j] = scale * (centres[centre * d + j] + noise * (1.6 - quality) * gauss()) }
                paths.append("probes/id\(id)/\(r).jpg")
            } else {
                let scale = Float.random(in: 10...40, using: &rng)
                for j in 0..<d { e[r * d + j] = scale * gauss() / Float(d).squareRoot() }
                paths.append("distractors/\(r).jpg")
            }
        }
        return try FeatureTable(dimension: d, embeddings: e, labels: labels, labelNames: (0..<identities).map { "id\($0)" }, paths: paths)
    }
}
