/// Where finished shards go. The coordinator calls `write` for each finished shard before it
/// journals it, and `merge` once at the end with every journaled shard in index order.
/// `FeatureStoreShardSink` (HDF5 shard files merged into the feature store) is the one in use.
public protocol ShardSink: AnyObject {
    /// Writes one shard's rows durably and atomically (all rows or none, fsynced); writing a
    /// shard again replaces it.
    func write(_ result: ShardResult) throws
    /// Writes several shards, each as `write` would; a sink may share the syncing (group commit).
    func write(batch results: [ShardResult]) throws
    /// Builds the final store at `destination` from `shards` (sorted by `first`, covering
    /// 0 ..< total exactly once).
    func merge(_ shards: [ShardKey], model: ModelInfo, into destination: String) throws -> MergeSummary
}

extension ShardSink {
    public func write(batch results: [ShardResult]) throws {
        for result in results { try write(result) }
    }
}

public struct MergeSummary: Sendable, Equatable {
    public var destination: String
    public var rows: Int
    public var embedded: Int
    public var failed: Int
    public init(destination: String, rows: Int, embedded: Int, failed: Int) {
        self.destination = destination
        self.rows = rows
        self.embedded = embedded
        self.failed = failed
    }
}

/// Checks that sorted `shards` tile 0 ..< end with no gap or overlap.
public func checkTiling(_ shards: [ShardKey]) throws {
    var next: UInt64 = 0
    for key in shards {
        guard key.first == next else {
            throw ClusterError.merge(key.first < next
                ? "shard \(key) overlaps the previous one (next expected index \(next))"
                : "items \(next) ..< \(key.first) have no shard")
        }
        next = key.first + UInt64(key.count)
    }
}
