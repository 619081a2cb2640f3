import ArgumentParser
import Evaluation
import Foundation

/// `magfleet pairs make|verify`: draw a pairs file, and verify one at a fixed threshold.
struct Pairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw verification pairs from a store, or verify a pairs file at a threshold.",
        subcommands: [Make.self, Verify.self])

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Draw positive and negative probe pairs into a JSON pairs file (docs/metrics.md).")
        @Argument(help: "The feature store.") var store: String
        @Option(help: "Output pairs file.") var out = "pairs.json"
        @Option(help: "Positive (same identity) pairs.") var positives = PairSet.defaultPositives
        @Option(help: "Negative (different identity) pairs.") var negatives = PairSet.defaultNegatives
        @Option(help: "Random seed.") var seed: UInt64 = 0

        func run() throws {
            let table = try FeatureTable.load(store: URL(fileURLWithPath: store))
            let set = try PairSet.draw(from: table, positives: positives, negatives: negatives, seed: seed)
            try set.write(to: URL(fileURLWithPath: out))
            print("wrote \(out): \(set.positives) positive and \(set.negatives) negative pairs, seed \(seed)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Confusion matrix, accuracy, precision, recall and F1 at a threshold, plus an HTML page of the errors.")
        @Argument(help: "The feature store.") var store: String
        @Argument(help: "The pairs file.") var pairs: String
        @Option(help: "Same identity when the cosine score is >= this.") var threshold: Float = 0.4
        @Option(help: "The HTML page of misclassified pairs.") var html = "pair-errors.html"
        @Option(help: "Prefix for the image paths in the HTML page's img tags.") var imageRoot = ""
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let table = try FeatureTable.load(store: URL(fileURLWithPath: store))
            let set = try PairSet.load(from: URL(fileURLWithPath: pairs))
            let r = PairVerification.run(set, table: table, threshold: threshold)
            for m in r.missing.prefix(20) { Console.error("pairs: not in store: \(m.a) / \(m.b)") }
            if r.missing.count > 0 { Console.error("pairs: \(r.missing.count) pair(s) skipped: path not in the store") }
            try Data(r.errorPage(imageRoot: imageRoot).utf8).write(to: URL(fileURLWithPath: html))
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(r), as: UTF8.self))
                return
            }
            print("""
                threshold \(threshold): \(r.scored) pairs scored, \(r.missing.count) skipped
                               predicted same  predicted diff
                actual same    \(r.truePositives) (TP)  \(r.falseNegatives) (FN)
                actual diff    \(r.falsePositives) (FP)  \(r.trueNegatives) (TN)
                accuracy \(String(format: "%.4f", r.accuracy))  precision \(String(format: "%.4f", r.precision))  recall \(String(format: "%.4f", r.recall))  F1 \(String(format: "%.4f", r.f1))
                errors page: \(html)
                """)
        }
    }
}
