import Foundation
import Testing
@testable import Evaluation

/// Verification metrics against scikit-learn on scores with many ties (multiples of 1/64).
@Suite struct VerificationTests {
    /// `scoreTolerance`: on scores the peers computed themselves (float64 product rounded to
    /// float32) vs our float32 GEMM, min/max differ by float32 rounding.
    func expectMatches(_ v: VerificationMetrics, _ e: [String: Any], tolerance: Double, exactNearest: Bool = true, scoreTolerance: Double = 0) {
        // Tolerance: sklearn integrates trapezoids in float64; the exact rank sum differs by rounding only.
        #expect(close(v.auc, e["auc"] as! Double, tolerance), "AUC \(v.auc) vs \(e["auc"]!)")
        #expect(close(v.bestAccuracy, e["bestAccuracy"] as! Double, tolerance))
        #expect(close(Double(v.bestThreshold!), e["bestThreshold"] as! Double, 1e-6))
        #expect(v.positivePairs == e["positivePairs"] as! Int && v.negativePairs == e["negativePairs"] as! Int)
        let points = e["tarAtFAR"] as! [[String: Any]]
        for (p, x) in zip(v.tarAtFAR, points) {
            #expect(close(p.strictTAR, x["strictTAR"] as! Double, tolerance), "strict TAR at \(p.far)")
            if let t = x["strictThreshold"] as? Double { #expect(close(Double(p.strictThreshold ?? .nan), t, 1e-6)) } else { #expect(p.strictThreshold == nil) }
            if exactNearest {
                #expect(close(p.nearestTAR, x["nearestTAR"] as! Double, tolerance), "nearest TAR at \(p.far)")
                #expect(close(p.nearestFAR, x["nearestFAR"] as! Double, tolerance), "nearest FAR at \(p.far)")
            }
        }
        for (s, key) in [(v.positiveStats, "positiveStats"), (v.negativeStats, "negativeStats")] {
            let x = e[key] as! [String: Any]
            // Tolerance: float64 sums of float32 scores; numpy sums pairwise, we sum in order.
            // Where our scores come from a float32 GEMM (scoreTolerance > 0), each may differ by
            // that much, and so may their mean and deviation.
            let statTolerance = max(1e-9, scoreTolerance)
            #expect(close(s.mean, x["mean"] as! Double, statTolerance) && close(s.std, x["std"] as! Double, statTolerance), "\(key)")
            #expect(s.histogram == x["histogram"] as! [Int], "\(key) histogram")
            #expect(s.count == x["count"] as! Int && close(Double(s.min), x["min"] as! Double, scoreTolerance) && close(Double(s.max), x["max"] as! Double, scoreTolerance))
        }
    }

    @Test func tiedScoresMatchSklearnExactly() throws {
        let f = try Fixture.json("scores.json")
        let pos = (f["positives"] as! [Double]).map(Float.init), neg = (f["negatives"] as! [Double]).map(Float.init)
        let v = try VerificationMetrics.compute(positives: pos, negatives: neg)
        #expect(v.nearestIsExact)
        expectMatches(v, f["expected"] as! [String: Any], tolerance: 1e-12)
    }

    @Test func streamedNegativesGiveTheSameExactMetrics() throws {
        let f = try Fixture.json("scores.json")
        let pos = (f["positives"] as! [Double]).map(Float.init), neg = (f["negatives"] as! [Double]).map(Float.init)
        var acc = NegativeAccumulator(sortedPositives: pos.sorted())
        // In uneven chunks, as the distractor blocks arrive.
        var start = 0
        for size in [1, 7, 1000, 5000, 20000] where start < neg.count {
            let end = min(neg.count, start + size)
            neg[start..<end].withUnsafeBufferPointer { acc.add($0) }
            start = end
        }
        let v = try VerificationMetrics.finish(acc, nearest: nil)
        #expect(!v.nearestIsExact)
        expectMatches(v, f["expected"] as! [String: Any], tolerance: 1e-12, exactNearest: false)
    }

    @Test func histogramBinsFollowNumpyAtEdges() {
        #expect(ScoreStats.bin(-1) == 0)
        #expect(ScoreStats.bin(1) == 99)
        #expect(ScoreStats.bin(0) == 50)
        #expect(ScoreStats.bin(1.0000001) == nil)
        #expect(ScoreStats.bin(-0.98) == 0)  // Float(-0.98) = -0.98000002, just below numpy's float64 edge
        #expect(ScoreStats.bin(-0.97999) == 1)
    }

    @Test func noNegativesIsAnError() {
        #expect(throws: EvaluationError.self) { try VerificationMetrics.compute(positives: [0.5], negatives: []) }
    }
}
