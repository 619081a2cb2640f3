import Foundation
import Base

/// Options of the classification head (docs/metrics.md, section 3).
public struct HeadOptions: Sendable {
    public var hidden = 256
    public var dropout: Float = 0.3
    public var epochs = 30
    public var batchSize = 64
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 0
    public init() {}
}

/// One row's prediction: top-5 labels with their probabilities.
public struct HeadPrediction: Codable, Sendable, Equatable {
    public var path: String
    public var labels: [String]
    public var probabilities: [Float]
    /// `high` (> 0.9), `medium` (0.5-0.9) or `low` (< 0.5), by the top probability.
    public var confidence: String

    public static func bin(_ p: Float) -> String { p > 0.9 ? "high" : (p >= 0.5 ? "medium" : "low") }
}

/// The head's training record and results (report section 3).
public struct HeadResult: Codable, Sendable, Equatable {
    public struct SplitScore: Codable, Sendable, Equatable {
        public var samples: Int
        public var top1: Double
        public var top5: Double
    }
    public var inputDimension: Int
    public var hidden: Int
    public var classes: Int
    public var epochs: Int
    public var bestEpoch: Int
    public var seed: UInt64
    public var train: SplitScore
    public var validation: SplitScore
    public var test: SplitScore
    /// Per epoch: mean training loss and validation top-1.
    public var trainingLoss: [Double]
    public var validationTop1: [Double]
    /// Rows per confidence bin over every row of the table: high, medium, low (the kept epoch's weights).
    public var confidenceCounts: [String: Int]
    /// How `bestEpoch` was chosen (`HeadCheckpointRule.description`).
    public var checkpointRule: String?
    /// Per epoch: mean cross-entropy on the validation split (evaluation mode).
    public var validationLoss: [Double]?
    /// The same scores and bins with the last epoch's weights, beside the kept epoch's.
    public var lastEpoch: EpochScores?

    public struct EpochScores: Codable, Sendable, Equatable {
        public var validation: SplitScore
        public var test: SplitScore
        public var confidenceCounts: [String: Int]
    }
}

/// Splitting, training and prediction for the head.
public enum HeadTrainer {
    /// A stratified split: within each identity (table order, shuffled by `seed`),
    /// round(15%) rows go to test, round(15%) to validation, the rest to train, keeping at
    /// least one training row. Returns table rows, each list ascending.
    public static func split(labels: [Int], seed: UInt64) -> (train: [Int], validation: [Int], test: [Int]) {
        var rng = SeededGenerator(seed: seed)
        var byLabel: [Int: [Int]] = [:]
        for (r, l) in labels.enumerated() where l >= 0 { byLabel[l, default: []].append(r) }
        var train: [Int] = [], val: [Int] = [], test: [Int] = []
        for l in byLabel.keys.sorted() {
            var rows = byLabel[l]!
            rows.shuffle(using: &rng)
            let n = rows.count
            var nTest = Int((Double(n) * 0.15).rounded()), nVal = Int((Double(n) * 0.15).rounded())
            while nTest + nVal >= n, nTest + nVal > 0 { if nVal >= nTest { nVal -= 1 } else { nTest -= 1 } }
            test += rows[0..<nTest]
            val += rows[nTest..<(nTest + nVal)]
            train += rows[(nTest + nVal)...]
        }
        return (train.sorted(), val.sorted(), test.sorted())
    }

    /// Trains on the table's probes and predicts every row.
    ///
    /// The weights kept are those of the epoch chosen by `HeadCheckpointRule` (the best
    /// validation top-1, ties broken by the lower validation loss). The confidence bins are
    /// counted for them and for the last epoch's weights; `predictions` are the kept weights'.
    /// - Parameter onPrediction: when given, each row's prediction is passed to it in table
    ///   order and none are returned (so that 1M rows are not held); otherwise they are returned.
    public static func train(
        _ table: FeatureTable, options: HeadOptions = HeadOptions(), onPrediction: ((HeadPrediction) throws -> Void)? = nil
    ) throws -> (weights: HeadWeights, result: HeadResult, predictions: [HeadPrediction]) {
        guard options.epochs >= 1, options.batchSize >= 1, (0..<1).contains(options.dropout) else {
            throw EvaluationError.badOption("head epochs \(options.epochs), batch \(options.batchSize), dropout \(options.dropout)")
        }
        let d = table.dimension
        let (trainRows, valRows, testRows) = split(labels: table.labels, seed: options.seed)
        guard !trainRows.isEmpty, !valRows.isEmpty, !testRows.isEmpty else {
            throw EvaluationError.notEnoughData("the head needs probes in train, validation and test (have \(trainRows.count)/\(valRows.count)/\(testRows.count))")
        }
        var rng = SeededGenerator(seed: options.seed &+ 1)
        let initial = HeadWeights(inputDimension: d, hidden: options.hidden, labelNames: table.labelNames, using: &rng)
        let keep = 1 - options.dropout
        var order = Array(0..<trainRows.count)
        let fit = fit(
            initial, x: table.normalizedRows(trainRows), labels: trainRows.map { table.labels[$0] },
            validation: table.normalizedRows(valRows), validationLabels: valRows.map { table.labels[$0] }, options: options,
            nextOrder: { order.shuffle(using: &rng); return order },
            nextMask: { n in options.dropout > 0 ? (0..<n).map { _ in Float.random(in: 0..<1, using: &rng) < keep ? 1 / keep : 0 } : nil })
        let best = fit.best, last = fit.last
        var counts = ["high": 0, "medium": 0, "low": 0], lastCounts = counts
        var predictions: [HeadPrediction] = []
        try predict(best, table: table, alsoBinning: fit.bestEpoch == options.epochs ? nil : last) { p, lastBin in
            counts[p.confidence, default: 0] += 1
            lastCounts[lastBin ?? p.confidence, default: 0] += 1
            if let onPrediction { try onPrediction(p) } else { predictions.append(p) }
        }
        let result = HeadResult(
            inputDimension: d, hidden: options.hidden, classes: table.labelNames.count, epochs: options.epochs, bestEpoch: fit.bestEpoch,
            seed: options.seed, train: score(best, table, trainRows), validation: score(best, table, valRows), test: score(best, table, testRows),
            trainingLoss: fit.trainingLoss, validationTop1: fit.validationTop1, confidenceCounts: counts,
            checkpointRule: HeadCheckpointRule.description, validationLoss: fit.validationLoss,
            lastEpoch: .init(validation: score(last, table, valRows), test: score(last, table, testRows), confidenceCounts: lastCounts))
        return (best, result, predictions)
    }

    /// What one training run gives: the chosen and the last epoch's weights and the per-epoch record.
    struct Fit {
        var best: HeadWeights
        var bestEpoch: Int
        var last: HeadWeights
        var trainingLoss: [Double] = [], validationTop1: [Double] = [], validationLoss: [Double] = []
    }

    /// The training loop on unit-length rows `x` (`labels.count x D`), with its randomness
    /// injected: `nextOrder()` gives each epoch's order of the training rows, `nextMask(n)` each
    /// batch's dropout mask (`n` = batch x hidden values, already scaled by 1/(1-p); nil for
    /// none). Adam, mean cross-entropy, and after each epoch the validation top-1 and loss
    /// (evaluation mode); the epoch kept follows `HeadCheckpointRule`. Tests drive it with
    /// PyTorch's initial weights, orders and masks (Tests/Fixtures/gen_head_training.py).
    static func fit(
        _ initial: HeadWeights, x: [Float], labels: [Int], validation vx: [Float], validationLabels vy: [Int], options: HeadOptions,
        nextOrder: () -> [Int], nextMask: (Int) -> [Float]?
    ) -> Fit {
        let d = initial.inputDimension
        var weights = initial
        var adam = Adam(like: weights, learningRate: options.learningRate)
        var fit = Fit(best: weights, bestEpoch: 0, last: weights)
        for epoch in 1...options.epochs {
            let order = nextOrder()
            var total = 0.0
            var start = 0
            while start < order.count {
                let batch = order[start..<min(start + options.batchSize, order.count)]
                var bx = [Float](repeating: 0, count: batch.count * d)
                for (k, i) in batch.enumerated() { for j in 0..<d { bx[k * d + j] = x[i * d + j] } }
                let by = batch.map { labels[$0] }
                let mask = nextMask(batch.count * options.hidden)
                let (loss, grads) = weights.lossAndGradients(bx, labels: by, mask: mask)
                total += loss * Double(batch.count)
                adam.step(&weights, grads)
                start += options.batchSize
            }
            fit.trainingLoss.append(total / Double(order.count))
            let (top1, loss) = evaluate(weights, vx, vy)
            fit.validationTop1.append(top1)
            fit.validationLoss.append(loss)
            if HeadCheckpointRule.prefers((top1, loss), over: fit.bestEpoch == 0 ? nil : (fit.validationTop1[fit.bestEpoch - 1], fit.validationLoss[fit.bestEpoch - 1])) {
                fit.best = weights
                fit.bestEpoch = epoch
            }
        }
        fit.last = weights
        return fit
    }

    /// Top-1 (rank rule of `score`) and mean cross-entropy (Double, of the float32 softmax) of
    /// unit-length rows `x` with `labels`, in evaluation mode.
    static func evaluate(_ w: HeadWeights, _ x: [Float], _ labels: [Int]) -> (top1: Double, loss: Double) {
        let c = w.classes, n = labels.count
        let p = w.probabilities(x, rows: n)
        var hits = 0, loss = 0.0
        for (k, y) in labels.enumerated() {
            let truth = p[k * c + y]
            var rank = 0
            for j in 0..<c where p[k * c + j] > truth || (p[k * c + j] == truth && j < y) { rank += 1 }
            if rank == 0 { hits += 1 }
            loss -= log(Double(max(truth, Float.leastNormalMagnitude)))
        }
        return (Double(hits) / Double(max(n, 1)), loss / Double(max(n, 1)))
    }

    static func score(_ w: HeadWeights, _ table: FeatureTable, _ rows: [Int]) -> HeadResult.SplitScore {
        let c = w.classes
        let p = w.probabilities(table.normalizedRows(rows), rows: rows.count)
        var top1 = 0, top5 = 0
        for (k, r) in rows.enumerated() {
            let truth = p[k * c + table.labels[r]]
            // Rank of the true class: classes with higher probability, or equal and lower index.
            var rank = 0
            for j in 0..<c where p[k * c + j] > truth || (p[k * c + j] == truth && j < table.labels[r]) { rank += 1 }
            if rank == 0 { top1 += 1 }
            if rank < 5 { top5 += 1 }
        }
        let n = Double(max(rows.count, 1))
        return .init(samples: rows.count, top1: Double(top1) / n, top5: Double(top5) / n)
    }

    /// Top-5 predictions for every row of `table` (probes and distractors), in blocks.
    public static func predict(_ w: HeadWeights, table: FeatureTable) -> [HeadPrediction] {
        var out: [HeadPrediction] = []
        out.reserveCapacity(table.count)
        predict(w, table: table, alsoBinning: nil) { p, _ in out.append(p) }
        return out
    }

    /// Each row's top-5 prediction, in table order, passed to `body` as it is made (blocks of
    /// 4,096 rows), with the confidence bin that `other` weights give the same row (nil without them).
    public static func predict(
        _ w: HeadWeights, table: FeatureTable, alsoBinning other: HeadWeights?, _ body: (HeadPrediction, String?) throws -> Void
    ) rethrows {
        let c = w.classes
        var start = 0
        while start < table.count {
            let rows = Array(start..<min(start + 4096, table.count))
            let x = table.normalizedRows(rows)
            let p = w.probabilities(x, rows: rows.count)
            let q = other?.probabilities(x, rows: rows.count)
            for (k, r) in rows.enumerated() {
                let top = (0..<c).sorted { (p[k * c + $0], -$0) > (p[k * c + $1], -$1) }.prefix(5)
                let probs = top.map { p[k * c + $0] }
                let otherBin = q.map { q in HeadPrediction.bin((0..<c).reduce(-Float.infinity) { max($0, q[k * c + $1]) }) }
                try body(HeadPrediction(path: table.paths[r], labels: top.map { w.labelNames[$0] }, probabilities: probs, confidence: HeadPrediction.bin(probs[0])), otherBin)
            }
            start += rows.count
        }
    }
}

/// How the head's kept epoch is chosen (docs/metrics.md, section 3): the highest validation
/// top-1; among epochs with equal top-1, the lowest validation loss (mean cross-entropy in
/// evaluation mode); the earliest of exact ties. Top-1 on a few hundred validation rows
/// saturates within a few epochs, so "first on ties" alone kept an epoch whose
/// probabilities were still low; the loss keeps improving while the top-1 is flat.
public enum HeadCheckpointRule {
    public static let description = "best validation top-1; ties: lowest validation loss; then the earliest epoch"

    /// Whether an epoch with (top-1, loss) `candidate` replaces the one kept so far (nil: none yet).
    public static func prefers(_ candidate: (top1: Double, loss: Double), over kept: (top1: Double, loss: Double)?) -> Bool {
        guard let kept else { return true }
        return candidate.top1 > kept.top1 || (candidate.top1 == kept.top1 && candidate.loss < kept.loss)
    }

    /// The chosen epoch (1-based) of a per-epoch record.
    public static func choose(top1: [Double], loss: [Double]) -> Int {
        var best = 0
        for e in top1.indices where prefers((top1[e], loss[e]), over: e == 0 ? nil : (top1[best], loss[best])) { best = e }
        return best + 1
    }
}

/// Adam (Kingma & Ba) with PyTorch's defaults: betas 0.9/0.999, eps 1e-8, no weight decay.
struct Adam {
    var lr: Float
    var t = 0
    var m: [[Float]], v: [[Float]]
    init(like w: HeadWeights, learningRate: Float) {
        lr = learningRate
        m = [w.w1, w.b1, w.w2, w.b2].map { [Float](repeating: 0, count: $0.count) }
        v = m
    }
    mutating func step(_ w: inout HeadWeights, _ g: HeadWeights) {
        t += 1
        let c1 = 1 - powf(0.9, Float(t)), c2 = 1 - powf(0.999, Float(t))
        func update(_ p: inout [Float], _ grad: [Float], _ k: Int) {
            for i in p.indices {
                m[k][i] = 0.9 * m[k][i] + 0.1 * grad[i]
                v[k][i] = 0.999 * v[k][i] + 0.001 * grad[i] * grad[i]
                p[i] -= lr * (m[k][i] / c1) / ((v[k][i] / c2).squareRoot() + 1e-8)
            }
        }
        update(&w.w1, g.w1, 0); update(&w.b1, g.b1, 1); update(&w.w2, g.w2, 2); update(&w.b2, g.b2, 3)
    }
}
