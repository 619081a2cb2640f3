import ClusterCore

/// Everything in the cluster layer that a user can act on.
public enum ClusterError: Error, CustomStringConvertible {
    case list(path: String, reason: String)
    case journal(path: String, reason: String)
    case shardFile(path: String, reason: String)
    case store(path: String, reason: String)
    case merge(String)
    case configuration(String)
    case refused(String)
    /// A resume whose inputs differ from the run directory's.
    case differentRun(path: String, reason: String)
    /// Another coordinator holds the run directory.
    case locked(path: String, holder: String)
    /// Checked before any worker starts: the run cannot succeed.
    case preflight(String)
    /// The merge found a journaled shard's file damaged (`reason` names the file: a checksum
    /// that fails, NaN, a truncated file). The coordinator takes it out of the journal, so the
    /// next run computes it again.
    case damagedShard(key: ShardKey, reason: String)

    public var description: String {
        switch self {
        case let .list(path, reason): return "image list \(path): \(reason)"
        case let .journal(path, reason): return "journal \(path): \(reason)"
        case let .shardFile(path, reason): return "shard file \(path): \(reason)"
        case let .store(path, reason): return "store \(path): \(reason)"
        case let .merge(reason): return "merge: \(reason)"
        case let .configuration(reason): return reason
        case let .refused(reason): return "refused by the coordinator: \(reason)"
        case let .differentRun(path, reason): return "run directory \(path) belongs to another run: \(reason)"
        case let .locked(path, holder): return "run directory \(path) is in use by another coordinator (\(holder)); stop it, or use another --run-dir"
        case let .preflight(reason): return reason
        case let .damagedShard(key, reason):
            return "\(reason); shard \(key) is no longer counted as done: run the same command again to compute it again and finish"
        }
    }
}
