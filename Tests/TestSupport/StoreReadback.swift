import Cluster
import FeatureStore
import Foundation
import ClusterCore

/// Reads a store (or shard) the cluster wrote back into the cluster's own row type, so tests
/// can compare what was merged with what the workers computed.
public enum StoreReadback {
    /// Every row in store order with its global index, and the store's provenance.
    public static func rows(of path: String) throws -> (provenance: StoreProvenance, rows: [ShardRow]) {
        let reader = try FeatureStoreReader(url: URL(fileURLWithPath: path))
        let paths = try reader.paths(), statuses = try reader.statuses(), labels = try reader.labels()
        let indices: [Int64]
        if case .shard = reader.kind { indices = try reader.indices() } else { indices = (0..<Int64(reader.count)).map { $0 } }
        let embeddings = try reader.embeddings(rows: 0..<reader.count)
        let dim = reader.dim
        let rows = (0..<reader.count).map { i -> ShardRow in
            let outcome: ShardRow.Outcome
            switch statuses[i] {
            case .ok: outcome = .embedding(Array(embeddings[(i * dim)..<((i + 1) * dim)]))
            case let .failed(reason): outcome = .failure(RowFailure(stored: reason))
            }
            return ShardRow(index: UInt64(indices[i]), path: paths[i], label: labels[i], outcome: outcome)
        }
        return (reader.provenance, rows)
    }
}
