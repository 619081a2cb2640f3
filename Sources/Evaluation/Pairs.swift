import Foundation
import Base

/// A pairs file (docs/metrics.md, "Pairs file"): pairs of image paths and whether they show
/// the same identity, with the counts and seed that drew them.
public struct PairSet: Codable, Sendable, Equatable {
    public struct Pair: Codable, Sendable, Equatable, Hashable {
        public var a: String
        public var b: String
        public var same: Bool
        public init(a: String, b: String, same: Bool) { self.a = a; self.b = b; self.same = same }
    }
    public static let formatName = "magfleet-pairs"
    public static let defaultPositives = 6820
    public static let defaultNegatives = 11820
    public var format = PairSet.formatName
    public var version = 1
    public var seed: UInt64
    public var positives: Int
    public var negatives: Int
    public var pairs: [Pair]

    public init(seed: UInt64, pairs: [Pair]) {
        self.seed = seed
        self.pairs = pairs
        positives = pairs.filter(\.same).count
        negatives = pairs.count - positives
    }

    /// Draws distinct unordered probe pairs: positives share an identity, negatives do not.
    /// Distractors are never drawn. Positives come first, then negatives.
    /// - Throws: `EvaluationError.notEnoughData` when the table has fewer distinct pairs.
    public static func draw(from table: FeatureTable, positives: Int = defaultPositives, negatives: Int = defaultNegatives, seed: UInt64 = 0) throws -> PairSet {
        var rng = SeededGenerator(seed: seed)
        let probes = table.probeRows
        var byLabel: [Int: [Int]] = [:]
        for r in probes { byLabel[table.labels[r], default: []].append(r) }
        let (possiblePositive, possibleNegative) = possibleCounts(in: table)
        guard positives <= possiblePositive, negatives <= possibleNegative else {
            throw EvaluationError.notEnoughData("asked for \(positives) positive / \(negatives) negative pairs; the table has \(possiblePositive) / \(possibleNegative)")
        }
        let multi = probes.filter { byLabel[table.labels[$0]]!.count > 1 }
        var seen = Set<[Int]>()
        var out: [Pair] = []
        func add(_ x: Int, _ y: Int, same: Bool) -> Bool {
            let key = [min(x, y), max(x, y)]
            guard seen.insert(key).inserted else { return false }
            out.append(Pair(a: table.paths[key[0]], b: table.paths[key[1]], same: same))
            return true
        }
        var made = 0
        while made < positives {
            let a = multi.randomElement(using: &rng)!
            let b = byLabel[table.labels[a]]!.randomElement(using: &rng)!
            if a != b, add(a, b, same: true) { made += 1 }
        }
        made = 0
        while made < negatives {
            let a = probes.randomElement(using: &rng)!, b = probes.randomElement(using: &rng)!
            if table.labels[a] != table.labels[b], add(a, b, same: false) { made += 1 }
        }
        return PairSet(seed: seed, pairs: out)
    }

    /// How many distinct positive and negative probe pairs the table has.
    public static func possibleCounts(in table: FeatureTable) -> (positives: Int, negatives: Int) {
        var perLabel: [Int: Int] = [:]
        for l in table.labels where l >= 0 { perLabel[l, default: 0] += 1 }
        let probes = perLabel.values.reduce(0, +)
        let positives = perLabel.values.reduce(0) { $0 + $1 * ($1 - 1) / 2 }
        return (positives, probes * (probes - 1) / 2 - positives)
    }

    public static func load(from url: URL) throws -> PairSet {
        do {
            let set = try JSONDecoder().decode(PairSet.self, from: Data(contentsOf: url))
            guard set.format == formatName else { throw EvaluationError.badFile(path: url.path, reason: "format \(set.format), expected \(formatName)") }
            return set
        } catch let error as EvaluationError { throw error } catch {
            throw EvaluationError.badFile(path: url.path, reason: "not a pairs file: \(error)")
        }
    }

    /// The pairs file's bytes: pretty, key-sorted JSON.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    public func write(to url: URL) throws { try jsonData().write(to: url) }
}

/// `pairs verify`: a fixed threshold applied to every pair (docs/metrics.md, section 2).
public struct PairVerification: Codable, Sendable, Equatable {
    public struct Scored: Codable, Sendable, Equatable {
        public var a: String
        public var b: String
        public var same: Bool
        public var score: Float
    }
    public var threshold: Float
    public var pairs: Int
    public var scored: Int
    /// Pairs with a path missing from the table: skipped, not fatal.
    public var missing: [PairSet.Pair]
    public var truePositives: Int
    public var falseNegatives: Int
    public var falsePositives: Int
    public var trueNegatives: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Misclassified pairs, lowest margin last.
    public var errors: [Scored]
    /// LFW-style 10-fold accuracy over the scored pairs (nil with fewer than 10).
    public var tenFold: TenFold?

    /// LFW-style 10-fold accuracy: the scored pairs in file order are cut into 10 contiguous
    /// folds (numpy `array_split`); each fold is tested at the threshold that maximises
    /// accuracy on the other nine (candidates: their distinct scores, accept `>=`, the
    /// highest on ties).
    public struct TenFold: Codable, Sendable, Equatable {
        public var accuracies: [Double]
        public var thresholds: [Float]
        public var mean: Double
        /// Population std (ddof 0).
        public var std: Double

        static func compute(scores: [Float], same: [Bool]) -> TenFold? {
            let n = scores.count
            guard n >= 10 else { return nil }
            var bounds = [0]
            for k in 0..<10 { bounds.append(bounds[k] + n / 10 + (k < n % 10 ? 1 : 0)) }
            var accuracies: [Double] = [], thresholds: [Float] = []
            for k in 0..<10 {
                let train = Array(0..<bounds[k]) + Array(bounds[k + 1]..<n)
                let bestThreshold = PairVerification.bestThreshold(scores: scores, same: same, among: train)
                let test = bounds[k]..<bounds[k + 1]
                let right = test.filter { (scores[$0] >= bestThreshold) == same[$0] }.count
                accuracies.append(Double(right) / Double(test.count))
                thresholds.append(bestThreshold)
            }
            let mean = accuracies.reduce(0, +) / 10
            let std = (accuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 10).squareRoot()
            return TenFold(accuracies: accuracies, thresholds: thresholds, mean: mean, std: std)
        }
    }

    /// The threshold of the best accuracy over the pairs `rows` (candidates: their distinct
    /// scores, accept `>=`; the highest on ties); +infinity when there are none.
    static func bestThreshold(scores: [Float], same: [Bool], among rows: [Int]) -> Float {
        let order = rows.sorted { scores[$0] > scores[$1] }
        let negatives = rows.filter { !same[$0] }.count
        var tp = 0, fp = 0, best = -1, bestThreshold = Float.infinity
        var i = 0
        while i < order.count {
            let v = scores[order[i]]
            while i < order.count, scores[order[i]] == v { if same[order[i]] { tp += 1 } else { fp += 1 }; i += 1 }
            let correct = tp + negatives - fp
            if correct > best { best = correct; bestThreshold = v }
        }
        return bestThreshold
    }

    /// The threshold of the best accuracy on the set's scored pairs themselves (`pairs verify
    /// --threshold best`): optimistic, as it is chosen on the pairs it is then applied to (the
    /// 10-fold accuracy is the unbiased number). Nil when no pair has both paths in the table.
    public static func bestThreshold(_ set: PairSet, table: FeatureTable) -> Float? {
        var scores: [Float] = [], same: [Bool] = []
        forEachScore(set, table: table) { pair, score in
            if let score { scores.append(score); same.append(pair.same) }
        }
        guard !scores.isEmpty else { return nil }
        return bestThreshold(scores: scores, same: same, among: Array(scores.indices))
    }

    /// Calls `body` with each pair and its cosine score, nil when a path is not in the table.
    static func forEachScore(_ set: PairSet, table: FeatureTable, _ body: (PairSet.Pair, Float?) -> Void) {
        let index = table.rowsByPath()
        let d = table.dimension
        var a = [Float](repeating: 0, count: d), b = a
        for pair in set.pairs {
            guard let ra = index[pair.a], let rb = index[pair.b] else { body(pair, nil); continue }
            a.withUnsafeMutableBufferPointer { table.normalizedRows([ra], into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { table.normalizedRows([rb], into: $0.baseAddress!) }
            var s: Float = 0
            for j in 0..<d { s += a[j] * b[j] }
            body(pair, s)
        }
    }

    /// Predicts "same" when the cosine score is >= `threshold`.
    public static func run(_ set: PairSet, table: FeatureTable, threshold: Float) -> PairVerification {
        var missing: [PairSet.Pair] = []
        var tp = 0, fn = 0, fp = 0, tn = 0
        var errors: [Scored] = []
        var allScores: [Float] = [], allSame: [Bool] = []
        forEachScore(set, table: table) { pair, score in
            guard let s = score else { missing.append(pair); return }
            let predicted = s >= threshold
            allScores.append(s)
            allSame.append(pair.same)
            switch (pair.same, predicted) {
            case (true, true): tp += 1
            case (true, false): fn += 1; errors.append(Scored(a: pair.a, b: pair.b, same: true, score: s))
            case (false, true): fp += 1; errors.append(Scored(a: pair.a, b: pair.b, same: false, score: s))
            case (false, false): tn += 1
            }
        }
        errors.sort { abs($0.score - threshold) > abs($1.score - threshold) }
        let n = tp + fn + fp + tn
        let precision = tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0
        let recall = tp + fn > 0 ? Double(tp) / Double(tp + fn) : 0
        return PairVerification(
            threshold: threshold, pairs: set.pairs.count, scored: n, missing: missing,
            truePositives: tp, falseNegatives: fn, falsePositives: fp, trueNegatives: tn,
            accuracy: n > 0 ? Double(tp + tn) / Double(n) : 0, precision: precision, recall: recall,
            f1: precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0, errors: errors,
            tenFold: TenFold.compute(scores: allScores, same: allSame))
    }
}
