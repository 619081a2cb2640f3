import Foundation

/// Everything `magfleet reduce` computes; report.json is this value.
public struct Report: Codable, Sendable {
    public struct Dataset: Codable, Sendable {
        public var rows: Int
        public var dimension: Int
        public var probes: Int
        public var identities: Int
        public var distractors: Int
    }
    /// The model a store's features came from, as its root attributes record it
    /// (docs/feature-store.md). Keys: `fingerprint`, `architecture`, `preset`, `flip` and
    /// `random_weights`, the store attribute's name.
    public struct Model: Codable, Sendable, Equatable {
        /// The full SHA-256 (hex) of the weights; "unknown" when an import did not record it.
        public var fingerprint: String
        /// e.g. "iresnet100"; "unknown" when an import did not record it.
        public var architecture: String
        /// The preprocessing preset's name (e.g. "magface-112").
        public var preset: String
        /// Whether the flipped image's embedding was added.
        public var flip: Bool
        /// True when the model ran with random weights: the numbers say nothing about face recognition.
        public var randomWeights: Bool

        enum CodingKeys: String, CodingKey {
            case fingerprint, architecture, preset, flip
            case randomWeights = "random_weights"
        }

        public init(fingerprint: String, architecture: String, preset: String, flip: Bool, randomWeights: Bool) {
            self.fingerprint = fingerprint
            self.architecture = architecture
            self.preset = preset
            self.flip = flip
            self.randomWeights = randomWeights
        }

        /// Whether the input recorded which model it was (an import may record neither).
        public var isRecorded: Bool { fingerprint != "unknown" || architecture != "unknown" }
    }
    /// 2: `model` is an object (1: a line of text).
    public var version = 2
    public var source: String
    /// What made the features, when the input records it (a store does, features.list does not).
    public var model: Model?
    public var dataset: Dataset
    /// Whether probe x distractor pairs were streamed in as negatives.
    public var distractorNegatives: Bool
    public var verification: VerificationMetrics
    public var identification: IdentificationMetrics
    public var rejectCurve: [RejectPoint]
    public var pairs: PairVerification?
    /// Where the pairs came from: a file, or drawn in the run (with the seed).
    public var pairsSource: String?
    public var head: HeadResult?
    public var seconds: [String: Double]
    /// The day of the run, UTC, `yyyy-MM-dd` (the seed's **Date**). report.md only: report.json
    /// stays the same for the same input and options (its `seconds` aside).
    public var date: String?
    /// What the run wrote, for report.md's "Files Generated" (set by the command that writes them).
    public var files: [GeneratedFile]?
    /// The commands that reproduce the run, for report.md's "Commands to Reproduce"; report.md only.
    public var commands: [String]?

    enum CodingKeys: String, CodingKey {
        case version, source, model, dataset, distractorNegatives, verification, identification, rejectCurve, pairs, pairsSource, head, seconds, files
    }

    /// One file a run wrote: its name (relative to the report directory, or as given) and what it holds.
    public struct GeneratedFile: Codable, Sendable, Equatable {
        public var name: String
        public var description: String
        public init(name: String, description: String) {
            self.name = name
            self.description = description
        }
    }
}

/// Options of one reduction.
public struct ReduceOptions: Sendable {
    public var distractorNegatives = false
    /// Gallery sizes of the MegaFace sweep; nil: every power of ten below the number of
    /// distractors (10, 100, ..., 10^6 at MegaFace's scale). The full count is always added.
    public var megafaceSizes: [Int]? = nil
    public var pairs: PairSet?
    public var pairsSource: String?
    /// The pair-verification threshold; nil takes the verification's best-accuracy threshold.
    public var pairThreshold: Float? = 0.4
    public var head: HeadOptions?
    public init() {}
}

/// Reduces a feature table to a `Report` (docs/metrics.md defines every number).
public enum Reducer {
    /// - Parameter onPrediction: with a head, receives each row's prediction in table order
    ///   (none are then returned), so that a large table's predictions are written, not held.
    public static func run(
        _ table: FeatureTable, source: String, options: ReduceOptions = ReduceOptions(), log: (String) -> Void = { _ in },
        onPrediction: ((HeadPrediction) throws -> Void)? = nil
    ) throws -> (report: Report, headWeights: HeadWeights?, predictions: [HeadPrediction]?) {
        let clock = ContinuousClock()
        var seconds: [String: Double] = [:]
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            let start = clock.now
            let value = try body()
            let d = clock.now - start
            seconds[name] = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
            log("\(name): \(String(format: "%.2f", seconds[name]!)) s")
            return value
        }
        let distractors = table.distractorRows.count
        let sizes = (options.megafaceSizes ?? Self.powersOfTen(below: distractors)).filter { $0 < distractors } + (distractors > 0 ? [distractors] : [])
        guard table.probeRows.count >= 2 else { throw EvaluationError.notEnoughData("\(table.probeRows.count) probes") }
        // Positives first (probe x probe), so that streamed negatives can be counted against them.
        // With --distractor-negatives, the probe x distractor scores are counted as each block
        // arrives, against the positives taken from the probe x probe scores (never held).
        let probeRows = table.probeRows
        var streamed: ParallelNegativeAccumulator? = nil
        func positives(_ probeScores: [Float]) -> [Float] {
            let nP = probeRows.count
            var out: [Float] = []
            for i in 0..<nP { for j in (i + 1)..<nP where table.labels[probeRows[i]] == table.labels[probeRows[j]] { out.append(probeScores[i * nP + j]) } }
            return out.sorted()
        }
        let pass = timed("similarity-pass") {
            SimilarityPass(table: table, megafaceSizes: sizes, negativeSink: options.distractorNegatives ? { probeScores, block in
                if streamed == nil { streamed = ParallelNegativeAccumulator(sortedPositives: positives(probeScores)) }
                streamed!.add(block)
            } : nil)
        }
        let all = pass.pairScores(kept: Array(0..<pass.probeRows.count))
        let verification: VerificationMetrics
        if options.distractorNegatives {
            var acc = streamed?.merged() ?? NegativeAccumulator(sortedPositives: all.positives.sorted())
            all.negatives.withUnsafeBufferPointer { acc.add($0) }
            verification = try timed("verification") { try VerificationMetrics.finish(acc, nearest: nil) }
        } else {
            verification = try timed("verification") { try VerificationMetrics.compute(positives: all.positives, negatives: all.negatives) }
        }
        let identification = timed("identification") { pass.identification(table: table) }
        let reject = try timed("reject-curve") { try pass.rejectCurve(table: table) }
        var pairResult: PairVerification? = nil
        var pairsSource = options.pairsSource
        var pairSet = options.pairs
        if pairSet == nil {
            // The seed's counts, or half of what a small table has.
            let (possiblePositive, possibleNegative) = PairSet.possibleCounts(in: table)
            let positives = min(PairSet.defaultPositives, possiblePositive / 2), negatives = min(PairSet.defaultNegatives, possibleNegative / 2)
            if positives > 0, negatives > 0 {
                pairSet = try PairSet.draw(from: table, positives: positives, negatives: negatives, seed: 0)
                pairsSource = "drawn in this run: seed 0, \(positives) positives, \(negatives) negatives"
            }
        }
        if let pairSet { pairResult = timed("pairs") { PairVerification.run(pairSet, table: table, threshold: options.pairThreshold ?? verification.bestThreshold ?? 0.4) } }
        var head: (weights: HeadWeights, result: HeadResult, predictions: [HeadPrediction])? = nil
        if let headOptions = options.head { head = try timed("head") { try HeadTrainer.train(table, options: headOptions, onPrediction: onPrediction) } }
        let identities = Set(table.labels.filter { $0 >= 0 }).count
        let report = Report(
            source: source,
            dataset: .init(rows: table.count, dimension: table.dimension, probes: pass.probeRows.count, identities: identities, distractors: distractors),
            distractorNegatives: options.distractorNegatives, verification: verification, identification: identification,
            rejectCurve: reject, pairs: pairResult, pairsSource: pairsSource, head: head?.result, seconds: seconds,
            date: Self.day(Date()))
        return (report, head?.weights, onPrediction == nil ? head?.predictions : nil)
    }

    /// 10, 100, ... up to the largest power of ten below `n`.
    public static func powersOfTen(below n: Int) -> [Int] {
        var out: [Int] = [], k = 10
        while k < n {
            out.append(k)
            if k > Int.max / 10 { break }
            k *= 10
        }
        return out
    }

    /// `yyyy-MM-dd` in UTC.
    static func day(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}
