import Foundation

/// A quick look at a shard file: the checks `FeatureStoreReader` makes on open (a complete
/// magfleet shard of this version, every dataset as long as the counts say), the counts, and
/// the rows' global indices, without reading the embeddings or the label names.
///
/// A coordinator resuming a run reads one per journaled shard (docs/cluster.md, "Resume"):
/// a missing, truncated, unfinished or foreign file fails here. The embeddings' checksums and
/// values are checked when the merge reads them (`StoreMerger`), which reads every byte anyway.
public struct ShardFileSummary: Sendable, Equatable {
    public var count: Int
    public var okCount: Int
    public var failedCount: Int
    /// The number of images in the run the shard was written for.
    public var totalRows: Int
    public var dim: Int
    public var modelFingerprint: String
    /// Each row's global index, in file order (the read checks their Fletcher-32 checksum).
    public var indices: [Int64]

    public init(count: Int, okCount: Int, failedCount: Int, totalRows: Int, dim: Int, modelFingerprint: String, indices: [Int64]) {
        self.count = count
        self.okCount = okCount
        self.failedCount = failedCount
        self.totalRows = totalRows
        self.dim = dim
        self.modelFingerprint = modelFingerprint
        self.indices = indices
    }

    /// Opens and checks the shard file at `url`.
    ///
    /// - Throws: what `FeatureStoreReader(url:expecting: "shard")` throws on open, and
    ///   `.checksumMismatch` when /indices is corrupt.
    public static func read(_ url: URL) throws(FeatureStoreError) -> ShardFileSummary {
        typealias A = StoreFormat.Attribute
        let file = try HDF5File.open(url.path)
        guard case let .shard(totalRows) = try FeatureStoreReader.checkHeader(file, expecting: "shard") else {
            preconditionFailure("checkHeader checked the kind")
        }
        let count = Int(try FeatureStoreReader.integer(A.count, of: file))
        let okCount = Int(try FeatureStoreReader.integer(A.okCount, of: file))
        let failedCount = Int(try FeatureStoreReader.integer(A.failedCount, of: file))
        let dim = Int(try FeatureStoreReader.integer(A.dim, of: file))
        _ = try FeatureStoreReader.checkShapes(file, kind: .shard(totalRows: totalRows), count: count, okCount: okCount,
                                               failedCount: failedCount, dim: dim)
        let indices = try file.dataset(StoreFormat.Dataset.indices).read(Int64.self, rows: 0, count: count)
        return ShardFileSummary(count: count, okCount: okCount, failedCount: failedCount, totalRows: totalRows, dim: dim,
                                modelFingerprint: try FeatureStoreReader.string(A.fingerprint, of: file), indices: indices)
    }
}
