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
    /// Rows per confidence bin over every row of the table: high, medium, low.
    public var confidenceCounts: [String: Int]
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
    public static func train(_ table: FeatureTable, options: HeadOptions = HeadOptions()) throws -> (weights: HeadWeights, result: HeadResult, predictions: [HeadPrediction]) {
        guard options.epochs >= 1, options.batchSize >= 1, (0..<1).contains(options.dropout) else {
            throw EvaluationError.badOption("head epochs \(options.epochs), batch \(options.batchSize), dropout \(options.dropout)")
        }
        let d = table.dimension
        let (trainRows, valRows, testRows) = split(labels: table.labels, seed: options.seed)
        guard !trainRows.isEmpty, !valRows.isEmpty, !testRows.isEmpty else {
            throw EvaluationError.notEnoughData("the head needs probes in train, validation and test (have \(trainRows.count)/\(valRows.count)/\(testRows.count))")
        }
        var rng = SeededGenerator(seed: options.seed &+ 1)
        var weights = HeadWeights(inputDimension: d, hidden: options.hidden, labelNames: table.labelNames, using: &rng)
        var adam = Adam(like: weights, learningRate: options.learningRate)
        let x = table.normalizedRows(trainRows)
        var best = weights, bestVal = -1.0, bestEpoch = 0
        var losses: [Double] = [], valTop1: [Double] = []
        let keep = 1 - options.dropout
        var order = Array(0..<trainRows.count)
        for epoch in 1...options.epochs {
            order.shuffle(using: &rng)
            var total = 0.0
            var start = 0
            while start < order.count {
                let batch = order[start..<min(start + options.batchSize, order.count)]
                var bx = [Float](repeating: 0, count: batch.count * d)
                for (k, i) in batch.enumerated() { for j in 0..<d { bx[k * d + j] = x[i * d + j] } }
                let by = batch.map { table.labels[trainRows[$0]] }
                let mask = (0..<(batch.count * options.hidden)).map { _ in Float.random(in: 0..<1, using: &rng) < keep ? 1 / keep : 0 }
                let (loss, grads) = weights.lossAndGradients(bx, labels: by, mask: options.dropout > 0 ? mask : nil)
                total += loss * Double(batch.count)
                adam.step(&weights, grads)
                start += options.batchSize
            }
            losses.append(total / Double(order.count))
            let v = score(weights, table, valRows).top1
            valTop1.append(v)
            if v > bestVal { bestVal = v; best = weights; bestEpoch = epoch }
        }
        let predictions = predict(best, table: table)
        var counts = ["high": 0, "medium": 0, "low": 0]
        for p in predictions { counts[p.confidence, default: 0] += 1 }
        let result = HeadResult(
            inputDimension: d, hidden: options.hidden, classes: table.labelNames.count, epochs: options.epochs, bestEpoch: bestEpoch,
            seed: options.seed, train: score(best, table, trainRows), validation: score(best, table, valRows), test: score(best, table, testRows),
            trainingLoss: losses, validationTop1: valTop1, confidenceCounts: counts)
        return (best, result, predictions)
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
        let c = w.classes
        var out: [HeadPrediction] = []
        out.reserveCapacity(table.count)
        var start = 0
        while start < table.count {
            let rows = Array(start..<min(start + 4096, table.count))
            let p = w.probabilities(table.normalizedRows(rows), rows: rows.count)
            for (k, r) in rows.enumerated() {
                let top = (0..<c).sorted { (p[k * c + $0], -$0) > (p[k * c + $1], -$1) }.prefix(5)
                let probs = top.map { p[k * c + $0] }
                out.append(HeadPrediction(path: table.paths[r], labels: top.map { w.labelNames[$0] }, probabilities: probs, confidence: HeadPrediction.bin(probs[0])))
            }
            start += rows.count
        }
        return out
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
