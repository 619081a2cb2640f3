import Imaging
import ClusterCore

/// Cuts the streamed list into shards of `shardSize` rows, skipping what the journal says is
/// done. Rows arrive typed from the one list reader, labelled by the run's one label table.
///
/// - A chunk that no finished shard touches is one shard.
/// - A chunk that finished shards cover in part comes back as its undone rows: as single-row
///   shards when the finished ones are single rows (the shard was split into single images
///   before a restart, so a poison image stays alone), else as runs of consecutive rows (after
///   the short last shard of a list that has since grown, `grownFrom`).
/// - With `retry`, a finished shard that has failed rows comes back as a shard that computes
///   those rows again and patches its file (`Shard.patches`).
public final class ShardSource {
    let reader: ListReader
    let summary: ListSummary
    let shardSize: Int
    let doneKeys: [ShardKey]
    let retry: Set<ShardKey>
    let failedRows: (ShardKey) throws -> [UInt64: RowFailure]
    /// The row count of the list before it grew (its last shard may be short), or nil.
    let grownFrom: UInt64?
    var cursor = 0
    public private(set) var exhausted = false
    /// Resumed failures that retries compute again, by category, not yet taken.
    private var retried: [String: Int] = [:]

    public init(reader: ListReader, summary: ListSummary, shardSize: Int, done: some Collection<ShardKey>,
                retry: Set<ShardKey> = [], failedRows: @escaping (ShardKey) throws -> [UInt64: RowFailure] = { _ in [:] },
                grownFrom: Int? = nil) {
        precondition(shardSize > 0, "shard size must be positive")
        self.reader = reader
        self.summary = summary
        self.shardSize = shardSize
        self.doneKeys = done.sorted()
        self.retry = retry
        self.failedRows = failedRows
        self.grownFrom = grownFrom.map(UInt64.init)
    }

    /// The next shards to do, or [] at the end.
    public func next() throws -> [Shard] {
        while !exhausted {
            var items: [ShardItem] = []
            items.reserveCapacity(shardSize)
            while items.count < shardSize, let entry = try reader.next() { items.append(item(entry)) }
            if items.count < shardSize { exhausted = true }
            guard let first = items.first?.index else { return [] }
            let end = first + UInt64(items.count)
            var covering: [ShardKey] = []
            while cursor < doneKeys.count, doneKeys[cursor].first < end {
                if doneKeys[cursor].first >= first { covering.append(doneKeys[cursor]) }
                cursor += 1
            }
            if covering.isEmpty { return [Shard(items: items)] }
            var shards: [Shard] = []
            for key in covering where retry.contains(key) {
                let failed = try failedRows(key)
                let redo = items.filter { key.indices.contains($0.index) && $0.problem == nil && failed[$0.index] != nil }
                guard !redo.isEmpty else { continue }
                for item in redo { retried[failed[item.index]!.category, default: 0] += 1 }
                shards.append(Shard(key: key, items: redo, patches: key))
            }
            let undone = items.filter { item in !covering.contains { $0.indices.contains(item.index) } }
            if !undone.isEmpty {
                // Single-row keys from a split, unless the one key is the short last shard of the list before it grew.
                let oldTail = covering.count == 1 && covering[0].first == first && covering[0].indices.upperBound == grownFrom
                if !oldTail, covering.allSatisfy({ $0.count == 1 }) {
                    shards += undone.map { Shard(items: [$0]) }
                } else {
                    var run: [ShardItem] = []
                    for item in undone {
                        if let last = run.last, last.index + 1 != item.index {
                            shards.append(Shard(items: run))
                            run = []
                        }
                        run.append(item)
                    }
                    if !run.isEmpty { shards.append(Shard(items: run)) }
                }
            }
            if !shards.isEmpty { return shards }
        }
        return []
    }

    /// The resumed failures that the shards handed out so far compute again (by category),
    /// since the last call.
    public func takeRetried() -> [String: Int] {
        defer { retried = [:] }
        return retried
    }

    func item(_ entry: ListEntry) -> ShardItem {
        ShardItem(index: UInt64(entry.index), path: entry.path, landmarks: entry.landmarks?.values ?? [],
                  label: summary.label(of: entry), problem: entry.problem)
    }
}
