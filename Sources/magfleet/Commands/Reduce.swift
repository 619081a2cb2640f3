import ArgumentParser
import Evaluation
import Foundation
import Tensor
import Base

/// `magfleet reduce STORE --out DIR`: the evaluation report (docs/metrics.md).
struct Reduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write report.md, report.json and report.html for a feature store, and print the summary table.",
        discussion: """
            Probes are rows with an identity, distractors rows without. Without --pairs, the \
            default pairs (6,820 positive, 11,820 negative, seed 0) are drawn in the run. \
            --synthetic replaces STORE with a generated table (for benchmarks).

            Examples:
              magfleet reduce features.h5 --out report
              magfleet reduce features.h5 --out report --pairs pairs.json \\
                  --threshold best --head
              magfleet reduce features.list --out report-text
            """)

    @Argument(help: "The feature store, or a features.list labelled by folder (docs/metrics.md, 'Input'; docs/lists.md, 'Labels and distractors').")
    var store: String?

    @Option(help: "Output directory (created if needed).")
    var out: String

    @Option(help: "A pairs file (magfleet pairs make) for section 2.")
    var pairs: String?

    @Option(help: "The folder the store's image paths are relative to (extract's --root), so that pair-errors.html shows the faces: its <img> tags link there, relative to --out.")
    var root: String?
    @Option(name: .customLong("image-root"), help: .hidden) var imageRootAlias: String?  // the name --root had here first

    /// --root, or its other spelling.
    var imageRoot: String? { root ?? imageRootAlias }

    @Option(parsing: .unconditional, help: "Pair verification threshold: a cosine (may be negative), or `best` for the verification's best-accuracy threshold.")
    var threshold: String = "0.4"

    @Flag(help: "Train and report the classification head (section 3); writes head.h5 and predictions.tsv.")
    var head = false

    @Option(help: "Head training epochs.")
    var epochs = 30

    @Option(help: "Seed of the head's split, initialisation and batches.")
    var seed: UInt64 = 0

    @Flag(help: "Add every probe x distractor pair as a negative (streamed, never held).")
    var distractorNegatives = false

    @Option(help: "Generate a synthetic table instead of reading STORE: ROWSxDIM, e.g. 100000x512.")
    var synthetic: String?

    @Option(help: "With --synthetic: probes and identities, e.g. 3530x80.")
    var syntheticProbes = "3530x80"

    @Option(help: "Also write the table's rows as raw little-endian float32 (N x D) plus .labels (one per line), for peers.")
    var dumpTable: String?

    func validate() throws {
        if store == nil && synthetic == nil { throw ValidationError("give a STORE or --synthetic ROWSxDIM") }
        if threshold != "best", Float(threshold).map({ (-1...1).contains($0) }) != true {
            throw ValidationError("--threshold must be a cosine in -1...1 or `best`, not \(threshold)")
        }
        var isDirectory: ObjCBool = false
        if root != nil, imageRootAlias != nil { throw ValidationError("--image-root is the other name of --root: give one") }
        if let imageRoot, !FileManager.default.fileExists(atPath: imageRoot, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw ValidationError("--root \(imageRoot) is not a directory")
        }
    }

    func run() throws {
        try OutputFile.makeDirectory(out, "report directory (--out)")
        if let dumpTable { try OutputFile.prepare(dumpTable, "table dump (--dump-table)") }
        let start = ContinuousClock.now
        let table: FeatureTable
        let source: String
        if let synthetic {
            let s = synthetic.split(separator: "x").compactMap { Int($0) }, p = syntheticProbes.split(separator: "x").compactMap { Int($0) }
            guard s.count == 2, p.count == 2 else { throw ValidationError("--synthetic ROWSxDIM and --synthetic-probes PROBESxIDENTITIES") }
            table = try FeatureTable.synthetic(rows: s[0], dimension: s[1], probes: p[0], identities: p[1])
            source = "synthetic \(synthetic), \(syntheticProbes) probes x identities"
        } else {
            table = try FeatureTable.load(store: URL(fileURLWithPath: store!))
            source = store!
        }
        if let dumpTable { try Self.dump(table, to: dumpTable) }
        let loaded = ContinuousClock.now - start
        Console.error("reduce: \(table.count) rows x \(table.dimension), \(table.probeRows.count) probes, BLAS \(BLAS.threadCount) threads; loaded in \(loaded.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2))))")
        var options = ReduceOptions()
        options.distractorNegatives = distractorNegatives
        options.pairThreshold = threshold == "best" ? nil : Float(threshold)
        if let pairs {
            options.pairs = try PairSet.load(from: URL(fileURLWithPath: pairs))
            options.pairsSource = pairs
        }
        if head {
            var h = HeadOptions()
            h.epochs = epochs
            h.seed = seed
            options.head = h
        }
        let dir = URL(fileURLWithPath: out)
        // predictions.tsv is written as the head predicts, row by row (1M rows are not held).
        let predictionsWriter = head ? try PredictionsWriter(path: dir.appendingPathComponent("predictions.tsv").path) : nil
        var (report, weights, _) = try Reducer.run(
            table, source: source, options: options, log: { Console.error("reduce: \($0)") },
            onPrediction: predictionsWriter.map { w in { try w.append($0) } })
        try predictionsWriter?.finish()
        if let store { report.model = FeatureTable.model(store: URL(fileURLWithPath: store)) }
        report.files = generatedFiles(report)
        report.commands = reproduceCommands(report)
        func write(_ data: Data, _ name: String) throws { try OutputFile.write(data, to: dir.appendingPathComponent(name).path, "report file") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try write(try encoder.encode(report), "report.json")
        try write(Data(report.markdown().utf8), "report.md")
        try write(Data(report.html().utf8), "report.html")
        if let p = report.pairs { try writeErrorPage(p, in: dir) }
        if let weights, let result = report.head, let trained = options.head {
            let file = HeadFile(weights: weights, dropout: trained.dropout, seed: result.seed, epochs: result.epochs, bestEpoch: result.bestEpoch, source: source,
                                modelFingerprint: store.flatMap { FeatureTable.modelFingerprint(store: URL(fileURLWithPath: $0)) })
            try file.write(to: dir.appendingPathComponent("head.h5"))
        }
        if let missing = report.pairs?.missing.count, missing > 0 { Console.error("reduce: \(missing) pair(s) skipped: path not in the store") }
        print(report.summaryTable())
        Console.error("reduce: total \((ContinuousClock.now - start).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2)))); wrote \(dir.path)/report.{md,json,html}")
    }

    /// pair-errors.html in `dir`, its images linked relative to `dir` under --root; says
    /// on stderr how many of them are not there.
    func writeErrorPage(_ p: PairVerification, in dir: URL) throws {
        var link: String? = nil
        if let imageRoot {
            let root = URL(fileURLWithPath: imageRoot, isDirectory: true)
            link = PairVerification.relativeLink(from: dir, to: root)
            let paths = Set(p.errors.flatMap { [$0.a, $0.b] })
            let absent = paths.filter { !FileManager.default.fileExists(atPath: $0.hasPrefix("/") ? $0 : root.appendingPathComponent($0).path) }
            if !absent.isEmpty {
                Console.error("reduce: pair-errors.html: \(absent.count) of \(paths.count) image(s) not found under --root \(imageRoot), e.g. \(absent.sorted()[0])")
            }
        } else if !p.errors.isEmpty {
            Console.error("reduce: pair-errors.html shows paths only; pass --root DIR (the root of the list paths, as extract's --root) to see the faces")
        }
        let page = p.errorPage(imageRoot: link, rootNote: imageRoot, reportLink: "report.html")
        try OutputFile.write(Data(page.utf8), to: dir.appendingPathComponent("pair-errors.html").path, "report file")
    }

    /// What this run writes, in report.md's "Files Generated": the same conditions as the writes in `run`.
    func generatedFiles(_ report: Report) -> [Report.GeneratedFile] {
        var files: [Report.GeneratedFile] = [
            .init(name: "report.md", description: "this report"),
            .init(name: "report.json", description: "every number of this report, per-stage seconds (docs/metrics.md)"),
            .init(name: "report.html", description: "this report with its plots (ROC, score histograms, CMC, error versus reject)"),
        ]
        if let p = report.pairs {
            files.append(.init(name: "pair-errors.html", description: "the \(Self.grouped(p.errors.count)) misclassified pairs of section 2, side by side"))
        }
        if let h = report.head {
            files.append(.init(name: "head.h5", description: "the classification head's weights, epoch \(h.bestEpoch) (`magfleet head predict --weights`)"))
            files.append(.init(name: "predictions.tsv", description: "top-5 identities and confidence of all \(Self.grouped(report.dataset.rows)) rows"))
        }
        if let dumpTable {
            files.append(.init(name: dumpTable, description: "the table as raw float32 \(Self.grouped(report.dataset.rows)) x \(report.dataset.dimension) (--dump-table)"))
            files.append(.init(name: dumpTable + ".labels", description: "its labels, one per line"))
        }
        return files
    }

    /// The commands that reproduce this report: (for an HDF5 store) where its provenance is
    /// shown, this reduce as it was run, then (with a head) applying the head again.
    func reproduceCommands(_ report: Report) -> [String] {
        var commands: [String] = []
        if let store, synthetic == nil, report.model != nil { commands.append("magfleet info \(Self.shellQuoted(store))    # how the features were made") }
        commands.append((["magfleet"] + CommandLine.arguments.dropFirst()).map(Self.shellQuoted).joined(separator: " "))
        if head, let store, synthetic == nil {
            commands.append("magfleet head predict \(Self.shellQuoted(store)) --weights \(Self.shellQuoted(out + "/head.h5")) --out predictions.tsv")
        }
        return commands
    }

    /// `n` with thousands separators, 1,000,000 (as report.md writes counts).
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `s` as one shell word: as it is when it is plain, else in single quotes.
    static func shellQuoted(_ s: String) -> String {
        let plain = !s.isEmpty && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%".unicodeScalars.contains($0) }
        return plain ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func dump(_ table: FeatureTable, to path: String) throws {
        // The table's own bytes, not a copy of them (2 GB at 1M x 512).
        try table.embeddings.withUnsafeBytes { raw in
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: raw.count, deallocator: .none)
            try OutputFile.write(data, to: path, "table dump (--dump-table)")
        }
        try OutputFile.write(Data((table.labels.map(String.init).joined(separator: "\n") + "\n").utf8), to: path + ".labels", "table dump's labels")
    }
}
