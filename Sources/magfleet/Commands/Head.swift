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
            let writer = try PredictionsWriter(path: out)
            var counts: [String: Int] = [:], rows = 0
            try HeadTrainer.predict(w, table: table, alsoBinning: nil) { p, _ in
                counts[p.confidence, default: 0] += 1
                rows += 1
                try writer.append(p)
            }
            try writer.finish()
            Console.error("head: \(w.classes) classes, D \(w.inputDimension), hidden \(w.hidden); epoch \(head.bestEpoch) of \(head.epochs), seed \(head.seed), trained on \(head.source)")
            print("wrote \(out): \(rows) rows; high \(counts["high"] ?? 0), medium \(counts["medium"] ?? 0), low \(counts["low"] ?? 0)")
        }
    }
}

/// predictions.tsv, written as rows arrive: a header line, then one line per row: path,
/// confidence bin, then label:probability (4 decimals) for the top 5, tab-separated. In 4 MiB
/// writes to a temporary file renamed into place by `finish()`, so that a large table's
/// predictions are never held whole. Used by one thread.
final class PredictionsWriter {
    let path: String
    private let temporary: String
    private let handle: FileHandle
    private var pending = "path\tconfidence\ttop5\n"

    init(path: String) throws {
        try OutputFile.prepare(path, "predictions file")
        self.path = path
        temporary = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CommandFailure("cannot write the predictions file \(temporary): \(String(cString: strerror(errno)))")
        }
        self.handle = handle
    }

    deinit {
        try? handle.close()
        unlink(temporary)  // nothing left when finish() renamed it
    }

    func append(_ p: HeadPrediction) throws {
        pending += p.path + "\t" + p.confidence + "\t" + zip(p.labels, p.probabilities).map { "\($0):\(String(format: "%.4f", $1))" }.joined(separator: "\t") + "\n"
        if pending.utf8.count >= 4 << 20 { try flush() }
    }

    private func flush() throws {
        do { try handle.write(contentsOf: Data(pending.utf8)) } catch {
            throw CommandFailure("cannot write the predictions file \(temporary): \(OutputFile.reason(error))")
        }
        pending = ""
    }

    /// Writes what is left and renames the file into place.
    func finish() throws {
        try flush()
        try handle.close()
        guard rename(temporary, path) == 0 else {
            throw CommandFailure("cannot write the predictions file \(path): \(String(cString: strerror(errno)))")
        }
    }
}
