/// One point of the MagFace error-versus-reject curve (docs/metrics.md, "MagFace quality").
public struct RejectPoint: Codable, Sendable, Equatable {
    /// The fraction of probes dropped, lowest norm first.
    public var rejected: Double
    public var keptProbes: Int
    /// Rank-1 over the kept probes, gallery = kept probes + every distractor.
    public var rank1: Double
    public var auc: Double
    public var bestAccuracy: Double
    /// 1 - strict TAR at FAR 1e-3 over the kept probes' pairs.
    public var fnmrAtFMR1e3: Double
}

extension SimilarityPass {
    static let rejectFractions: [Double] = (0...10).map { Double($0) * 0.05 }

    /// The probes kept after dropping `floor(fraction * P)` lowest-norm probes (ties: table order).
    static func kept(fraction: Double, norms: [Float], probeRows: [Int]) -> [Int] {
        let order = probeRows.indices.sorted { (norms[probeRows[$0]], $0) < (norms[probeRows[$1]], $1) }
        let drop = Int((fraction * Double(probeRows.count)).rounded(.down))
        return order[drop...].sorted()
    }

    /// Positive and negative probe-pair scores among `kept` (probe indices, ascending), i < j.
    func pairScores(kept: [Int]) -> (positives: [Float], negatives: [Float]) {
        let nP = probeRows.count
        var positives: [Float] = [], negatives: [Float] = []
        negatives.reserveCapacity(kept.count * (kept.count - 1) / 2)
        probeScores.withUnsafeBufferPointer { s in
            for (a, i) in kept.enumerated() {
                for j in kept[(a + 1)...] {
                    if probeLabels[i] == probeLabels[j] { positives.append(s[i * nP + j]) } else { negatives.append(s[i * nP + j]) }
                }
            }
        }
        return (positives, negatives)
    }

    func rejectCurve(table: FeatureTable) throws -> [RejectPoint] {
        let nP = probeRows.count
        var points: [RejectPoint] = []
        for fraction in Self.rejectFractions {
            let kept = Self.kept(fraction: fraction, norms: table.norms, probeRows: probeRows)
            var isKept = [Bool](repeating: false, count: nP)
            for i in kept { isKept[i] = true }
            var correct = 0
            for i in kept {
                var best = bestDistractor[i]
                var bestIsProbe = -1
                for j in kept where j != i {
                    let c = (probeScores[i * nP + j], probeRows[j])
                    if Self.better(c, than: best) { best = c; bestIsProbe = j }
                }
                if bestIsProbe >= 0, probeLabels[bestIsProbe] == probeLabels[i] { correct += 1 }
            }
            let (pos, neg) = pairScores(kept: kept)
            var acc = NegativeAccumulator(sortedPositives: pos.sorted())
            neg.withUnsafeBufferPointer { acc.add($0) }
            let v = try VerificationMetrics.finish(acc, nearest: nil)
            let strict = v.tarAtFAR.first { $0.far == 1e-3 }!.strictTAR
            points.append(RejectPoint(
                rejected: fraction, keptProbes: kept.count, rank1: Double(correct) / Double(max(kept.count, 1)),
                auc: v.auc, bestAccuracy: v.bestAccuracy, fnmrAtFMR1e3: 1 - strict))
        }
        return points
    }
}
