/// TAR at one target FAR, in the two conventions of docs/metrics.md.
public struct TARPoint: Codable, Sendable, Equatable {
    public var far: Double
    /// Strict: the highest TAR of any threshold whose FAR is <= `far`.
    public var strictTAR: Double
    /// The lowest positive score accepted at that point (nil when none is).
    public var strictThreshold: Float?
    /// insightface: the TPR of the ROC point (sklearn `roc_curve`, `drop_intermediate=True`)
    /// whose FPR is nearest `far`, the first such point on ties.
    public var nearestTAR: Double
    public var nearestFAR: Double
}

/// Verification over one set of positive and negative scores (docs/metrics.md, section 1).
public struct VerificationMetrics: Codable, Sendable, Equatable {
    public static let targetFARs: [Double] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    public var positivePairs: Int
    public var negativePairs: Int
    /// ROC-AUC; ties between a positive and a negative count one half, as sklearn's trapezoids do.
    public var auc: Double
    public var bestAccuracy: Double
    /// Accept when score >= threshold; nil when accepting nothing is best.
    public var bestThreshold: Float?
    public var tarAtFAR: [TARPoint]
    /// Whether `nearestTAR` comes from the full ROC (true) or, with streamed negatives, from
    /// the ROC points at positive-score thresholds only (docs/metrics.md, "Streaming").
    public var nearestIsExact: Bool
    public var positiveStats: ScoreStats
    public var negativeStats: ScoreStats
    /// ROC points (FAR, TAR) at positive-score thresholds, at most ~200, for the plot.
    public var roc: [[Double]]
}

extension VerificationMetrics {
    /// Exact metrics from every score held in memory.
    public static func compute(positives: [Float], negatives: [Float]) throws -> VerificationMetrics {
        let sortedPositives = positives.sorted()
        var acc = NegativeAccumulator(sortedPositives: sortedPositives)
        negatives.withUnsafeBufferPointer { acc.add($0) }
        let nearest = nearestPoints(positivesAscending: sortedPositives, negatives: negatives)
        return try finish(acc, nearest: nearest)
    }

    /// Metrics from a finished accumulator; `nearest` is the exact insightface column when
    /// the negatives were held, nil to approximate it from positive-score thresholds.
    static func finish(_ acc: NegativeAccumulator, nearest: [(tar: Double, far: Double)]?) throws -> VerificationMetrics {
        let p = acc.positives
        let nP = p.count, nN = acc.stats.count
        guard nP > 0, nN > 0 else {
            throw EvaluationError.notEnoughData("verification needs positive and negative pairs (have \(nP) and \(nN))")
        }
        // negAtLeast[m] = #negatives with hi >= m.
        var negAtLeast = [Int](repeating: 0, count: nP + 2)
        for m in stride(from: nP, through: 0, by: -1) { negAtLeast[m] = negAtLeast[m + 1] + acc.histHi[m] }
        // Distinct positive values, descending: (first ascending index j0, value).
        var groups: [(j0: Int, value: Float)] = []
        var j = nP - 1
        while j >= 0 {
            var j0 = j
            while j0 > 0, p[j0 - 1] == p[j] { j0 -= 1 }
            groups.append((j0, p[j]))
            j = j0 - 1
        }
        let total = Double(nP + nN)
        var bestAccuracy = Double(nN) / total
        var bestThreshold: Float? = nil
        for g in groups {
            let tp = nP - g.j0, fp = negAtLeast[g.j0 + 1]
            let a = Double(tp + nN - fp) / total
            if a > bestAccuracy { bestAccuracy = a; bestThreshold = g.value }
        }
        var points: [TARPoint] = []
        for (t, far) in targetFARs.enumerated() {
            var tar = 0.0
            var threshold: Float? = nil
            for g in groups {  // descending value: FAR grows
                let fp = negAtLeast[g.j0 + 1]
                if Double(fp) / Double(nN) > far { break }
                tar = Double(nP - g.j0) / Double(nP)
                threshold = g.value
            }
            let near: (tar: Double, far: Double)
            if let nearest { near = nearest[t] } else {
                // ROC points at positive thresholds, plus the origin.
                var best = (tar: 0.0, far: 0.0)
                var bestDistance = abs(0.0 - far)
                for g in groups {
                    let f = Double(negAtLeast[g.j0 + 1]) / Double(nN)
                    if abs(f - far) < bestDistance { bestDistance = abs(f - far); best = (Double(nP - g.j0) / Double(nP), f) }
                }
                near = best
            }
            points.append(TARPoint(far: far, strictTAR: tar, strictThreshold: threshold, nearestTAR: near.tar, nearestFAR: near.far))
        }
        var pos = ScoreStatsAccumulator()
        for x in p { pos.add(x) }
        var posStats = pos.stats
        // Two-pass std for the (small) positive set.
        let mean = p.reduce(0.0) { $0 + Double($1) } / Double(nP)
        posStats.mean = mean
        posStats.std = (p.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(nP)).squareRoot()
        let auc = (Double(acc.greater) + 0.5 * Double(acc.ties)) / (Double(nP) * Double(nN))
        var roc: [[Double]] = [[0, 0]]
        let stride = max(1, groups.count / 200)
        for (k, g) in groups.enumerated() where k % stride == 0 || k == groups.count - 1 {
            roc.append([Double(negAtLeast[g.j0 + 1]) / Double(nN), Double(nP - g.j0) / Double(nP)])
        }
        return VerificationMetrics(
            positivePairs: nP, negativePairs: nN, auc: auc, bestAccuracy: bestAccuracy, bestThreshold: bestThreshold,
            tarAtFAR: points, nearestIsExact: nearest != nil, positiveStats: posStats, negativeStats: acc.stats.stats, roc: roc)
    }

    /// insightface's nearest-point TAR for every target, from sklearn's ROC
    /// (`drop_intermediate=True`, with the (0, 0) point prepended).
    static func nearestPoints(positivesAscending p: [Float], negatives: [Float]) -> [(tar: Double, far: Double)] {
        let n = negatives.sorted(by: >)
        var fps: [Int] = [], tps: [Int] = []
        var i = p.count - 1, k = 0, tp = 0, fp = 0
        while i >= 0 || k < n.count {
            let v = max(i >= 0 ? p[i] : -.infinity, k < n.count ? n[k] : -.infinity)
            while i >= 0, p[i] == v { tp += 1; i -= 1 }
            while k < n.count, n[k] == v { fp += 1; k += 1 }
            fps.append(fp); tps.append(tp)
        }
        var keptF = [0], keptT = [0]
        let m = fps.count
        for q in 0..<m {
            let keep: Bool
            if q == 0 || q == m - 1 || m <= 2 { keep = true } else {
                keep = fps[q + 1] - 2 * fps[q] + fps[q - 1] != 0 || tps[q + 1] - 2 * tps[q] + tps[q - 1] != 0
            }
            if keep { keptF.append(fps[q]); keptT.append(tps[q]) }
        }
        let nN = Double(fp), nP = Double(tp)
        return targetFARs.map { far in
            var best = 0
            var bestDistance = Double.infinity
            for q in keptF.indices {
                let d = abs(Double(keptF[q]) / nN - far)
                if d < bestDistance { bestDistance = d; best = q }
            }
            return (Double(keptT[best]) / nP, Double(keptF[best]) / nN)
        }
    }
}
