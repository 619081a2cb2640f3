import Foundation
import Testing
@testable import Evaluation

/// The whole reduction of the fixture table against numpy + scikit-learn.
@Suite struct ReducerTests {
    @Test func everyMetricMatchesThePeers() throws {
        let (table, meta) = try Fixture.table()
        let e = meta["expected"] as! [String: Any]
        var options = ReduceOptions()
        options.megafaceSizes = [10, 100]
        options.pairs = try Fixture.pairs(meta)
        let report = try Reducer.run(table, source: "fixture", options: options).report
        // Scores: our float32 GEMM vs numpy's float64 product rounded to float32 differ by
        // ~1e-7, and OpenBLAS's blocking (its thread count, which other tests in this process
        // change) moves our own scores by as much: one or two positive/negative pairs within
        // that of a tie may order differently (1/(P*N) ~ 5e-9 each), so rank-based values agree
        // to 2e-8, thresholds and score statistics to 1e-6.
        VerificationTests().expectMatches(report.verification, e["verification"] as! [String: Any], tolerance: 2e-8, scoreTolerance: 1e-6)
        let id = report.identification
        #expect(id.rank1Correct == e["rank1Correct"] as! Int)
        #expect(id.cmc == e["cmc"] as! [Double])
        let mega = e["megaface"] as! [[String: Any]]
        #expect(id.megaface.map(\.distractors) == mega.map { $0["distractors"] as! Int })
        #expect(id.megaface.map(\.queries) == mega.map { $0["queries"] as! Int })
        #expect(id.megaface.map(\.correct) == mega.map { $0["correct"] as! Int })
        let reject = e["reject"] as! [[String: Any]]
        #expect(report.rejectCurve.count == reject.count)
        for (r, x) in zip(report.rejectCurve, reject) {
            #expect(r.keptProbes == x["keptProbes"] as! Int)
            #expect(close(r.rank1, x["rank1"] as! Double, 1e-12), "rank-1 at \(r.rejected)")
            // Tolerance: one positive/negative pair within float32 rounding of a tie may order
            // differently (1/(P*N) ~ 5e-9 here); allow two such pairs.
            #expect(close(r.auc, x["auc"] as! Double, 2e-8), "AUC at \(r.rejected)")
            #expect(close(r.bestAccuracy, x["bestAccuracy"] as! Double, 1e-9))
            #expect(close(r.fnmrAtFMR1e3, x["fnmrAtFMR1e3"] as! Double, 1e-9))
        }
        let p = try #require(report.pairs)
        let xp = e["pairs"] as! [String: Any]
        #expect(p.missing.count == 1 && p.scored == 800)
        #expect([p.truePositives, p.falseNegatives, p.falsePositives, p.trueNegatives] == ["tp", "fn", "fp", "tn"].map { xp[$0] as! Int })
        #expect(close(p.accuracy, xp["accuracy"] as! Double, 1e-12) && close(p.precision, xp["precision"] as! Double, 1e-12))
        #expect(close(p.recall, xp["recall"] as! Double, 1e-12) && close(p.f1, xp["f1"] as! Double, 1e-12))
        // 10-fold: fold accuracies are counts over 80 pairs, exact unless a score sits within
        // float32 rounding of a threshold (none here).
        let folds = try #require(p.tenFold)
        #expect(folds.accuracies == xp["tenFoldAccuracies"] as! [Double])
        #expect(close(folds.mean, xp["tenFoldMean"] as! Double, 1e-12) && close(folds.std, xp["tenFoldStd"] as! Double, 1e-12))
    }

    @Test func streamedDistractorNegativesCountEveryProbeDistractorPair() throws {
        let (table, _) = try Fixture.table()
        var options = ReduceOptions()
        options.distractorNegatives = true
        let report = try Reducer.run(table, source: "fixture", options: options).report
        let probes = table.probeRows.count, distractors = table.distractorRows.count
        #expect(report.verification.negativePairs == probes * (probes - 1) / 2 - report.verification.positivePairs + probes * distractors)
        // The same negatives held in memory: streaming must not change any exact metric.
        let pass = SimilarityPass(table: table, megafaceSizes: [])
        let held = pass.pairScores(kept: Array(0..<probes))
        var negatives = held.negatives
        _ = SimilarityPass(table: table, megafaceSizes: []) { _, block in negatives.append(contentsOf: block) }
        let exact = try VerificationMetrics.compute(positives: held.positives, negatives: negatives)
        #expect(report.verification.auc == exact.auc)
        #expect(report.verification.bestAccuracy == exact.bestAccuracy && report.verification.bestThreshold == exact.bestThreshold)
        #expect(report.verification.tarAtFAR.map(\.strictTAR) == exact.tarAtFAR.map(\.strictTAR))
        #expect(report.verification.negativeStats.histogram == exact.negativeStats.histogram)
    }
}
