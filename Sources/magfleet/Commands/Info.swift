import ArgumentParser
import FeatureStore
import Foundation

/// `magfleet info STORE`: counts, provenance, the norm distribution and failures.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a feature store's (or shard's) counts, provenance, norm distribution and failures.",
        discussion: """
            Failed rows are counted by category (docs/feature-store.md, /failure_reasons), with \
            --failures examples of each.

            Examples:
              magfleet info features.h5
              magfleet info features.h5.run/shards/0-256.h5 --failures 10
              magfleet info features.h5 --json --failures 100
            """)

    @Argument(help: "The feature store or shard file (.h5).")
    var store: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Failed rows shown per failure category, as examples.")
    var failures = 3

    struct Report: Codable {
        var file: String
        var kind: String
        var formatVersion: Int64
        var totalRows: Int?
        var rows: Int
        var ok: Int
        var failed: Int
        var provenance: StoreProvenance
        /// Quantiles of the ok rows' norms: min, 1%, 5%, 25%, 50%, 75%, 95%, 99%, max.
        var norms: [String: Float]
        var normMean: Double?
        /// Failed rows per category (the part of each reason before `: `, docs/feature-store.md).
        var failureReasons: [String: Int]
        /// Up to `--failures` rows per category, `PATH: message`.
        var failureExamples: [String: [String]]
    }

    func run() throws {
        let reader = try FeatureStoreReader(url: URL(fileURLWithPath: store))
        let statuses = try reader.statuses()
        let norms = try reader.norms()
        let okNorms = zip(norms, statuses).filter { $0.1.isOK }.map(\.0).sorted()
        var quantiles: [String: Float] = [:]
        if !okNorms.isEmpty {
            for (name, q) in [("min", 0.0), ("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)] {
                quantiles[name] = okNorms[Int((Double(okNorms.count - 1) * q).rounded())]
            }
        }
        var reasons: [String: Int] = [:]
        var examples: [String: [String]] = [:]
        let paths = try reader.paths()
        for (i, status) in statuses.enumerated() {
            if case let .failed(reason) = status {
                let (category, message) = Self.split(reason)
                reasons[category, default: 0] += 1
                if examples[category, default: []].count < failures { examples[category, default: []].append("\(paths[i]): \(message)") }
            }
        }
        var totalRows: Int?
        if case let .shard(total) = reader.kind { totalRows = total }
        let report = Report(
            file: store, kind: reader.kind.description, formatVersion: StoreFormat.version, totalRows: totalRows,
            rows: reader.count, ok: reader.okCount, failed: reader.failedCount, provenance: reader.provenance,
            norms: quantiles, normMean: okNorms.isEmpty ? nil : okNorms.reduce(0.0) { $0 + Double($1) } / Double(okNorms.count),
            failureReasons: reasons, failureExamples: examples)
        if json {
            try Console.printJSON(report)
        } else {
            print(Self.render(report))
        }
    }

    /// A stored reason's category and message: `category: message` (docs/feature-store.md,
    /// `/failure_reasons`), the category a lowercase word such as `missing-file`. A reason
    /// without one (a store written by another tool) counts as `unspecified`, whole, so that
    /// reasons holding paths never make one category each.
    static func split(_ reason: String) -> (category: String, message: String) {
        if let colon = reason.range(of: ": ") {
            let head = reason[..<colon.lowerBound]
            if !head.isEmpty, head.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" }), head.first!.isLetter {
                return (String(head), String(reason[colon.upperBound...]))
            }
        }
        return ("unspecified", reason)
    }

    /// `text` cut to `limit` characters with an ellipsis: one line per example, however long its reason.
    static func shortened(_ text: String, _ limit: Int = 160) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    static func render(_ r: Report) -> String {
        let p = r.provenance
        var lines = [
            "\(r.file): magfleet \(r.kind), format version \(r.formatVersion)",
            "rows        \(r.rows) (ok \(r.ok), failed \(r.failed))" + (r.totalRows.map { " of a run of \($0)" } ?? ""),
            "model       \(p.architecture), dim \(p.embeddingDim), fingerprint \(p.modelFingerprint)" + (p.randomWeights ? "  [RANDOM WEIGHTS: not a real model]" : ""),
            "preprocess  \(p.preprocessingPreset), flip \(p.flip ? "yes" : "no")",
            "image list  sha256 \(p.imageListSHA256)",
            "labels      \(p.labelNames.count) names",
            "written by  magfleet \(p.toolVersion) at \(p.createdAt)",
        ]
        if !r.norms.isEmpty {
            let order = ["min", "p01", "p05", "p25", "p50", "p75", "p95", "p99", "max"]
            lines.append("norms       " + order.map { "\($0) \(String(format: "%.3f", r.norms[$0]!))" }.joined(separator: "  "))
            if let mean = r.normMean { lines.append("            mean \(String(format: "%.3f", mean))") }
        }
        if !r.failureReasons.isEmpty {
            let categories = r.failureReasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            lines.append("failures    \(r.failed) rows in \(categories.count) categor\(categories.count == 1 ? "y" : "ies") (count, then examples: path: reason)")
            let width = max(12, (categories.map(\.key.count).max() ?? 0) + 2)
            for (category, count) in categories {
                let head = "  " + category.padding(toLength: width, withPad: " ", startingAt: 0) + String(count).leftPadded(7) + "  "
                let examples = r.failureExamples[category] ?? []
                lines.append(head + Self.shortened(examples.first ?? ""))
                for example in examples.dropFirst() { lines.append(String(repeating: " ", count: head.count) + Self.shortened(example)) }
            }
        }
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
