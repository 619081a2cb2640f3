import ClusterCore
/// Where finished shards go. The coordinator calls `write` for each finished shard before it
/// journals it, and `merge` once at the end with every journaled shard in index order.
/// `FeatureStoreShardSink` (HDF5 shard files merged into the feature store) is the one in use.
public protocol ShardSink: AnyObject {
    /// Writes one shard's rows durably and atomically (all rows or none, fsynced); writing a
    /// shard again replaces it. A result that `patches` a finished shard replaces those rows of
    /// its file and keeps the others.
    /// - Returns: the counts of the shard file as written (for the journal).
    func write(_ result: ShardResult) throws -> ShardTally
    /// The failed rows of a finished shard, for `--retry-failed`.
    func failedRows(of key: ShardKey) throws -> [UInt64: RowFailure]
    /// Builds the final store at `destination` from `shards` (sorted by `first`, covering
    /// 0 ..< total exactly once).
    /// - Throws: `ClusterError.damagedShard` when a shard's file is found damaged (a failing
    ///   checksum, NaN, truncated); other errors name the store or the cause.
    /// `progress` gets the rows written so far and the store's rows, as the merge goes.
    func merge(_ shards: [ShardKey], into destination: String, progress: @escaping (_ written: Int, _ total: Int) -> Void) throws -> MergeSummary
    /// What is wrong with a journaled shard's file, or nil when it looks whole: the cheap check
    /// a resume makes of every finished shard (present, complete, the rows and counts the
    /// journal recorded); what costs a full read (checksums, values) is the merge's.
    func problem(with tally: ShardTally) -> String?
    /// Removes what killed writers left: every temporary file among the shard files (only
    /// the lock holder writes there), and those of `destination` whose writer is gone.
    /// - Returns: the files removed, and the temporary files of `destination` kept because
    ///   the process that writes them is running.
    func removeLeftovers(destination: String) -> (removed: [String], kept: [String])
    /// Reads the merged store at `summary.destination` back whole (every checksum) and checks
    /// that it holds `summary`'s rows: what must hold before the run directory is removed.
    func verify(_ summary: MergeSummary) throws
    /// The store at `destination` when it is complete and made by this run's model from this
    /// run's list (a finished run whose run directory was removed), with its failures by
    /// category; nil otherwise.
    func finishedStore(at destination: String) -> (summary: MergeSummary, failuresByCategory: [String: UInt64])?
}

/// A shard file's counts, as the journal records them.
public struct ShardTally: Sendable, Equatable {
    public var key: ShardKey
    public var embedded: Int
    public var failed: Int
    public var failuresByCategory: [String: Int]

    public init(key: ShardKey, embedded: Int, failed: Int, failuresByCategory: [String: Int] = [:]) {
        self.key = key
        self.embedded = embedded
        self.failed = failed
        self.failuresByCategory = failuresByCategory
    }

    public init(_ result: ShardResult) {
        let failed = result.failedCount
        self.init(key: result.key, embedded: result.rows.count - failed, failed: failed, failuresByCategory: result.failuresByCategory)
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

/// Checks that sorted `shards` tile 0 ..< total with no gap or overlap.
public func checkTiling(_ shards: [ShardKey], total: UInt64) throws {
    var next: UInt64 = 0
    for key in shards {
        guard key.first == next else {
            throw ClusterError.merge(key.first < next
                ? "shard \(key) overlaps the previous one (next expected index \(next))"
                : "items \(next) ..< \(key.first) have no shard")
        }
        next = key.first + UInt64(key.count)
    }
    guard next == total else { throw ClusterError.merge("items \(next) ..< \(total) have no shard") }
}
