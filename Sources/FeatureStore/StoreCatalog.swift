import Foundation

/// What a browser of a store looks up besides the search: each row's status and failure
/// reason, the rows of each label, the failed rows by category. Read once from a reader;
/// paths, labels and norms come from the search index, which holds them already.
///
/// Sendable: immutable after init.
public final class StoreCatalog: Sendable {
    /// One failed row.
    public struct Failure: Sendable, Equatable {
        public var row: Int
        public var category: String
        public var reason: String
    }

    public let count: Int
    public let okCount: Int
    public let failedCount: Int
    /// Failed rows in row order.
    public let failures: [Failure]
    /// Failures per category, most first (ties by name).
    public let categories: [(category: String, count: Int)]
    /// Store rows per label id, ascending.
    private let rowsOfLabel: [Int64: [Int]]
    private let failureOfRow: [Int: Int]
    /// Norm quantiles of the ok rows: min, p05, p50, p95, max (empty without ok rows).
    public let normQuantiles: [Float]

    /// Reads statuses, reasons, labels and norms of `reader`.
    public init(reader: FeatureStoreReader) throws(FeatureStoreError) {
        count = reader.count
        okCount = reader.okCount
        failedCount = reader.failedCount
        let codes = try reader.statusCodes(rows: 0..<reader.count)
        let labels = try reader.labels()
        let norms = try reader.norms()
        var failures: [Failure] = []
        if reader.failedCount > 0 {
            let reasons = try reader.failureReasons(rows: 0..<reader.count)
            for (row, code) in codes.enumerated() where code != StoreFormat.statusOK {
                failures.append(Failure(row: row, category: Self.category(of: reasons[row]), reason: reasons[row]))
            }
        }
        self.failures = failures
        failureOfRow = Dictionary(uniqueKeysWithValues: failures.enumerated().map { ($1.row, $0) })
        var perCategory: [String: Int] = [:]
        for f in failures { perCategory[f.category, default: 0] += 1 }
        categories = perCategory.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        var byLabel: [Int64: [Int]] = [:]
        for (row, label) in labels.enumerated() { byLabel[label, default: []].append(row) }
        rowsOfLabel = byLabel
        var ok = zip(codes, norms).filter { $0.0 == StoreFormat.statusOK }.map(\.1)
        ok.sort()
        normQuantiles = ok.isEmpty ? [] : [0, 0.05, 0.5, 0.95, 1].map { ok[min(ok.count - 1, Int(Double(ok.count - 1) * $0 + 0.5))] }
    }

    /// The failure of `row`, nil for an ok row.
    public func failure(ofRow row: Int) -> Failure? { failureOfRow[row].map { failures[$0] } }

    /// The rows labelled `label`, ascending.
    public func rows(ofLabel label: Int64) -> [Int] { rowsOfLabel[label] ?? [] }

    /// The category of a failure reason: the part before `: ` when it is a lowercase word
    /// (`decode: ...`), else "unspecified" (docs/feature-store.md, /failure_reasons).
    public static func category(of reason: String) -> String {
        if let colon = reason.range(of: ": ") {
            let head = reason[..<colon.lowerBound]
            if let first = head.first, first.isLetter,
               head.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" }) {
                return String(head)
            }
        }
        return "unspecified"
    }
}
