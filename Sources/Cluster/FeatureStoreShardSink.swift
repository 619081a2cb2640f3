import FeatureStore
import Foundation

/// The production sink: each finished shard is an HDF5 shard file of the feature store
/// (docs/feature-store.md) under `directory`, written under a temporary name, fsynced and
/// renamed by `ShardWriter`; the end of the run merges them with `StoreMerger`, streaming, into
/// one store that h5py opens as it is.
public final class FeatureStoreShardSink: ShardSink {
    public let directory: String
    let provenance: StoreProvenance
    let list: ListSummary

    /// - Parameters:
    ///   - provenance: recorded in every shard and in the store (model, preset, list hash…).
    ///   - list: resolves each row's list line to its image path and label.
    public init(directory: String, provenance: StoreProvenance, list: ListSummary) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.shardFile(path: directory, reason: "cannot create: \(error)")
        }
        self.directory = directory
        var provenance = provenance
        provenance.labelNames = list.labelNames
        provenance.imageListSHA256 = list.sha256
        self.provenance = provenance
        self.list = list
    }

    public func url(of key: ShardKey) -> URL {
        URL(fileURLWithPath: "\(directory)/\(key.first)-\(key.count).h5")
    }

    public func write(_ result: ShardResult) throws {
        let writer = ShardWriter(url: url(of: result.key), provenance: provenance, totalRows: Int(list.count))
        for row in result.rows {
            let (path, label) = list.resolve(row.path)
            switch row.outcome {
            case let .embedding(vector):
                try writer.add(index: Int(row.index), path: path, label: label, embedding: vector)
            case let .failure(reason):
                try writer.addFailure(index: Int(row.index), path: path, label: label, reason: reason)
            }
        }
        try writer.finish()
    }

    public func merge(_ shards: [ShardKey], model: ModelInfo, into destination: String) throws -> MergeSummary {
        try checkTiling(shards)
        let summary = try StoreMerger(shards: shards.map(url(of:)), output: URL(fileURLWithPath: destination)).merge()
        return MergeSummary(destination: destination, rows: summary.rows, embedded: summary.okRows, failed: summary.rows - summary.okRows)
    }
}
