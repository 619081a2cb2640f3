import Base
import ClusterCore
import Foundation

// What a coordinator does with the run directory's files before it computes anything, and at
// the merge: a run directory that has lost or damaged a finished shard's file must still be
// able to finish, by computing that shard again (docs/cluster.md, "Resume").
extension CoordinatorService {
    /// Removes what killed writers left (temporary shard files; the store's, when their writer
    /// is gone), then takes out of the journal each finished shard whose file is missing,
    /// truncated, unfinished or not the shard the journal recorded: it is computed again.
    /// Logs what it found. The check opens each file and reads its counts and indices only
    /// (docs/performance.md has its cost); checksums and values are checked by the merge.
    func repairRunDirectory(_ journal: Journal, sink: ShardSink) throws {
        let (removed, kept) = sink.removeLeftovers(destination: options.output)
        for path in removed { logger.info("removed a temporary file a killed writer left", metadata: ["file": "\(path)"]) }
        for path in kept {
            logger.warning("a temporary file of the store is being written by a running process; left alone", metadata: ["file": "\(path)"])
        }
        guard !journal.entries.isEmpty else { return }
        let started = MonotonicClock.now()
        var unusable: [ShardKey] = []
        for tally in journal.entries.values.sorted(by: { $0.key < $1.key }) {
            guard let problem = sink.problem(with: tally) else { continue }
            logger.warning("a finished shard's file is unusable; computing the shard again",
                           metadata: ["shard": "\(tally.key)", "problem": "\(problem)"])
            unusable.append(tally.key)
        }
        try journal.forget(unusable)
        logger.info("checked the finished shards' files", metadata: [
            "shards": "\(journal.entries.count + unusable.count)", "unusable": "\(unusable.count)",
            "ms": "\(MonotonicClock.now() - started)"])
    }

    /// Merges every journaled shard into the store. A shard the merge finds damaged (a failing
    /// checksum, NaN) is taken out of the journal before the error goes up: no store is
    /// written, and the next run computes that shard again and finishes.
    func mergeShards(_ journal: Journal, sink: ShardSink, progress: @escaping (_ written: Int, _ total: Int) -> Void) throws -> MergeSummary {
        do {
            return try sink.merge(journal.entries.keys.sorted(), into: options.output, progress: progress)
        } catch let ClusterError.damagedShard(key, reason) {
            try journal.forget([key])
            logger.error("a finished shard's file is damaged; it is no longer counted as done",
                         metadata: ["shard": "\(key)", "problem": "\(reason)"])
            throw ClusterError.damagedShard(key: key, reason: reason)
        }
    }
}
