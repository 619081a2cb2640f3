import ArgumentParser
import Evaluation
import Foundation

/// `magfleet head predict`: reuse a trained classification head (head.h5 from `reduce --head`).
struct Head: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Use a classification head trained by `magfleet reduce --head`.",
        subcommands: [Predict.self])

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Top-5 identities with probabilities and a confidence bin for every row of a store.",
            discussion: """
                Examples:
                  magfleet head predict features.h5 --weights report/head.h5 \\
                      --out predictions.tsv
                """)
        @Argument(help: "The feature store.") var store: String
        @Option(help: "Head weights (head.h5 from `magfleet reduce --head`).") var weights: String
        @Option(help: "Predictions file (TSV).") var out = "predictions.tsv"

        func run() throws {
            try OutputFile.prepare(out, "predictions file")
            let head = try HeadFile.read(from: URL(fileURLWithPath: weights))
            let w = head.weights
            let storeFingerprint = FeatureTable.modelFingerprint(store: URL(fileURLWithPath: store))
            if let trained = head.modelFingerprint, let storeFingerprint, trained != storeFingerprint {
                throw CommandFailure("""
                    \(store) was made by another model (fingerprint \(storeFingerprint)) than the one the head \
                    \(weights) was trained on (\(trained)); a head only applies to its own model's embeddings. \
                    Train a head on this store with `magfleet reduce \(store) --out DIR --head`
                    """)
            }
            if head.modelFingerprint == nil || storeFingerprint == nil {
                Console.error("head: note: the \(head.modelFingerprint == nil ? "head" : "store") records no model fingerprint, so it cannot be checked that the head belongs to the store's model")
            }
            let table = try FeatureTable.load(store: URL(fileURLWithPath: store))
            guard table.dimension == w.inputDimension else {
                throw CommandFailure("the store has dimension \(table.dimension), the head expects \(w.inputDimension)")
            }
            let predictions = HeadTrainer.predict(w, table: table)
            try Head.writePredictions(predictions, to: out)
            var counts: [String: Int] = [:]
            for p in predictions { counts[p.confidence, default: 0] += 1 }
            Console.error("head: \(w.classes) classes, D \(w.inputDimension), hidden \(w.hidden); epoch \(head.bestEpoch) of \(head.epochs), seed \(head.seed), trained on \(head.source)")
            print("wrote \(out): \(predictions.count) rows; high \(counts["high"] ?? 0), medium \(counts["medium"] ?? 0), low \(counts["low"] ?? 0)")
        }
    }

    /// One line per row: path, confidence bin, then label:probability for the top 5, tab-separated.
    static func writePredictions(_ predictions: [HeadPrediction], to path: String) throws {
        var text = "path\tconfidence\ttop5\n"
        for p in predictions {
            text += p.path + "\t" + p.confidence + "\t" + zip(p.labels, p.probabilities).map { "\($0):\(String(format: "%.4f", $1))" }.joined(separator: "\t") + "\n"
        }
        try OutputFile.write(Data(text.utf8), to: path, "predictions file")
    }
}
