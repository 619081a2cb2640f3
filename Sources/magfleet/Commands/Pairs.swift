import ArgumentParser
import Evaluation
import Foundation

/// `magfleet pairs make|verify`: draw a pairs file, and verify one at a fixed threshold.
struct Pairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw verification pairs from a store, or verify a pairs file at a threshold.",
        subcommands: [Make.self, Verify.self])

    struct Make: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw positive and negative probe pairs into a JSON pairs file (docs/metrics.md).",
            discussion: """
                Examples:
                  magfleet pairs make features.h5 --out pairs.json \\
                      --positives 200 --negatives 200
                """)
        @Argument(help: "The feature store.") var store: String
        @Option(help: "Output pairs file.") var out = "pairs.json"
        @Option(help: "Positive (same identity) pairs.") var positives = PairSet.defaultPositives
        @Option(help: "Negative (different identity) pairs.") var negatives = PairSet.defaultNegatives
        @Option(help: "Random seed.") var seed: UInt64 = 0

        func run() throws {
            try OutputFile.prepare(out, "pairs file")
            let table = try FeatureTable.load(store: URL(fileURLWithPath: store))
            let set = try PairSet.draw(from: table, positives: positives, negatives: negatives, seed: seed)
            try OutputFile.write(try set.jsonData(), to: out, "pairs file")
            print("wrote \(out): \(set.positives) positive and \(set.negatives) negative pairs, seed \(seed)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confusion matrix, accuracy, precision, recall and F1 at a threshold, plus an HTML page of the errors.",
            discussion: """
                Examples:
                  magfleet pairs verify features.h5 pairs.json --threshold 0.4
                  magfleet pairs verify features.h5 pairs.json --threshold best \\
                      --root demo/images
                """)
        @Argument(help: "The feature store.") var store: String
        @Argument(help: "The pairs file.") var pairs: String
        @Option(parsing: .unconditional, help: "Same identity when the cosine score is >= this: a cosine, or `best` for the threshold of the best accuracy on these pairs (optimistic; the 10-fold accuracy is not).")
        var threshold: String = "0.4"
        @Option(help: "The HTML page of misclassified pairs.") var html = "pair-errors.html"
        @Option(help: "Where the stored paths are found (ROOT/path), for the HTML page's img tags: a directory or a URL.")
        var root: String?
        @Option(name: .customLong("image-root"), help: .hidden) var imageRootAlias: String?  // the old name of --root
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if threshold != "best", Float(threshold).map({ (-1...1).contains($0) }) != true {
                throw ValidationError("--threshold must be a cosine in -1...1 or `best`, not \(threshold)")
            }
            if root != nil, imageRootAlias != nil { throw ValidationError("--image-root is the old name of --root: give one") }
        }

        /// `root` + "/" + path, as the other commands join --root (a root ending in "/" is kept as it is).
        var imagePrefix: String {
            guard let root = root ?? imageRootAlias, !root.isEmpty else { return "" }
            return root.hasSuffix("/") ? root : root + "/"
        }

        func run() throws {
            try OutputFile.prepare(html, "errors page (--html)")
            let table = try FeatureTable.load(store: URL(fileURLWithPath: store))
            let set = try PairSet.load(from: URL(fileURLWithPath: pairs))
            let cut: Float
            if threshold == "best" {
                guard let best = PairVerification.bestThreshold(set, table: table) else {
                    throw CommandFailure("--threshold best: no pair of \(pairs) has both paths in \(store)")
                }
                cut = best
                Console.error("pairs: best-accuracy threshold on these pairs: \(best)")
            } else {
                cut = Float(threshold)!
            }
            let r = PairVerification.run(set, table: table, threshold: cut)
            for m in r.missing.prefix(20) { Console.error("pairs: not in store: \(m.a) / \(m.b)") }
            if r.missing.count > 0 { Console.error("pairs: \(r.missing.count) pair(s) skipped: path not in the store") }
            try OutputFile.write(Data(r.errorPage(imageRoot: imagePrefix).utf8), to: html, "errors page (--html)")
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(r), as: UTF8.self))
                return
            }
            print("""
                threshold \(threshold == "best" ? "best (\(cut))" : threshold): \(r.scored) pairs scored, \(r.missing.count) skipped
                               predicted same  predicted diff
                actual same    \(r.truePositives) (TP)  \(r.falseNegatives) (FN)
                actual diff    \(r.falsePositives) (FP)  \(r.trueNegatives) (TN)
                accuracy \(String(format: "%.4f", r.accuracy))  precision \(String(format: "%.4f", r.precision))  recall \(String(format: "%.4f", r.recall))  F1 \(String(format: "%.4f", r.f1))
                errors page: \(html)
                """)
        }
    }
}
