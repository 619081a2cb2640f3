import ArgumentParser
import FeatureStore
import Foundation

/// `magfleet info STORE`: counts, provenance, the norm distribution and failures.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a feature store's (or shard's) counts, provenance, norm distribution and failures.")

    @Argument(help: "The feature store or shard file (.h5).")
    var store: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "How many failed paths to list.")
    var failures = 10

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
        var failureReasons: [String: Int]
        var failedPaths: [String]
    }

    func run() throws {
        do {
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
            var failedPaths: [String] = []
            let paths = try reader.paths()
            for (i, status) in statuses.enumerated() {
                if case let .failed(reason) = status {
                    reasons[Self.category(reason), default: 0] += 1
                    if failedPaths.count < failures { failedPaths.append("\(paths[i]): \(reason)") }
                }
            }
            var totalRows: Int?
            if case let .shard(total) = reader.kind { totalRows = total }
            let report = Report(
                file: store, kind: reader.kind.description, formatVersion: StoreFormat.version, totalRows: totalRows,
                rows: reader.count, ok: reader.okCount, failed: reader.failedCount, provenance: reader.provenance,
                norms: quantiles, normMean: okNorms.isEmpty ? nil : okNorms.reduce(0.0) { $0 + Double($1) } / Double(okNorms.count),
                failureReasons: reasons, failedPaths: failedPaths)
            if json {
                try Console.printJSON(report)
            } else {
                print(Self.render(report))
            }
        } catch let error as FeatureStoreError {
            throw CommandFailure("info: \(error)")
        }
    }

    /// The part of a failure reason before its first colon ("decode: ..." -> "decode").
    static func category(_ reason: String) -> String {
        reason.split(separator: ":", maxSplits: 1).first.map(String.init) ?? reason
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
            lines.append("failures    " + r.failureReasons.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            lines += r.failedPaths.map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
