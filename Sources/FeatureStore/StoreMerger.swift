import Foundation

/// Merges shard files into one store, ordered by global index, in bounded memory with a
/// fixed number of files open.
///
/// Two passes. The first opens each shard in turn (one file at a time) and checks it: a
/// complete magfleet shard, the same model as the others (and list and labels, where shards
/// record them), global indices in 0..<total and ascending; a bitmap of the indices seen finds
/// a duplicate or a missing index before anything is written. The second writes the store one
/// window of `windowRows` global indices at a time: each shard whose rows fall in the window
/// is read from where the previous window left it (a coordinator's shards are runs of
/// consecutive indices, so a window touches the few shards that tile it; shards whose indices
/// interleave are read window by window too), through a cache of at most `maxOpenShards`
/// open files. What it holds: the bitmap (one bit per row), a few numbers per shard, one
/// window of rows and one block read from a shard, never the whole matrix, whatever the number
/// of shards or rows (docs/performance.md, "Merge").
///
/// Refuses, naming the shard or the index, an incomplete or foreign shard, shards that
/// disagree on model fingerprint, architecture, dim, preset, flip, image list, label names or
/// run size, an index that appears twice or is missing, and, as it reads the rows, a chunk
/// that fails its checksum (`checksumMismatch`) or an embedding that holds NaN or an infinity
/// (`nonFinite`): no output is left then. `FeatureStoreError.file` names the shard at fault
/// (or the output, for a write error such as `noSpace`); a process out of file descriptors
/// gets `tooManyOpenFiles` with its limit. The output is written atomically (see
/// `FeatureStoreWriter`).
public struct StoreMerger {
    public struct Summary: Sendable {
        public var rows: Int
        public var okRows: Int
        public var shards: Int
    }

    public let shards: [URL]
    public let output: URL
    public var options: StoreWriteOptions
    /// Bytes of embeddings in one window of the output (the block read from a shard is at most
    /// as large).
    public var memoryBudget: Int = 32 << 20
    /// Shard files held open at once in the second pass.
    public var maxOpenShards = 4

    /// What the store records instead of the first shard's provenance, and its row count
    /// instead of the shards' `total_rows`: the coordinator gives its run's (the list's current
    /// hash and label names; a run whose list grew since its first shards were written merges
    /// old and new shards under them). The shards must then agree only on the model (the run
    /// directory's journal vouches for the list).
    public var provenance: StoreProvenance?
    public var totalRows: Int?
    /// Called after each output window with the rows written so far and the store's rows.
    public var progress: ((_ written: Int, _ total: Int) -> Void)?

    public init(shards: [URL], output: URL, options: StoreWriteOptions = .init()) {
        self.shards = shards
        self.output = output
        self.options = options
    }

    /// Rows of one output window at dimension `dim`.
    func windowRows(dim: Int) -> Int { max(64, min(1 << 16, memoryBudget / max(1, dim * 4))) }

    public func merge() throws(FeatureStoreError) -> Summary {
        let survey = try MergeSurvey(shards, totalRows: totalRows, modelOnly: provenance != nil, findLabelled: provenance == nil)
        var provenance = self.provenance ?? survey.provenance
        provenance.createdAt = StoreProvenance.now()
        if provenance.labelNames.isEmpty, let labelled = survey.firstLabelled {
            throw .noLabelNames(path: labelled.path)
        }
        let writer = try FeatureStoreWriter(url: output, provenance: provenance, kind: .store, options: options)
        let d = provenance.embeddingDim, total = survey.total
        let window = windowRows(dim: d)
        let files = ShardFileCache(capacity: maxOpenShards)
        var cursors = [Int](repeating: 0, count: survey.shards.count)  // each shard's next row
        var active: [Int] = []  // shards with rows left whose first index is below the window's end
        var nextShard = 0  // survey.shards is sorted by first index
        var start = 0
        var rows = StoreRows()  // one window, its buffers reused: every slot is written by one shard
        while start < total {
            let end = min(start + window, total)
            while nextShard < survey.shards.count, survey.shards[nextShard].first < Int64(end) {
                active.append(nextShard)
                nextShard += 1
            }
            if rows.count != end - start {
                rows.embeddings = [Float](repeating: 0, count: (end - start) * d)
                rows.paths = [String](repeating: "", count: end - start)
                rows.labels = [Int64](repeating: -1, count: end - start)
                rows.statuses = [RowStatus](repeating: .ok, count: end - start)
            }
            for s in active {
                cursors[s] = try Self.copy(survey.shards[s], from: cursors[s], window: start..<end, into: &rows, files: files)
            }
            active.removeAll { cursors[$0] == survey.shards[$0].count }
            try writer.append(rows)
            start = end
            progress?(end, total)
        }
        let okRows = writer.okCount
        try writer.finish()
        return Summary(rows: total, okRows: okRows, shards: survey.shards.count)
    }

    /// Copies the rows of `shard` from row `cursor` on whose global index is in `window` into
    /// `rows` (at index - window start); returns the shard's next row. Reads at most one window
    /// of rows, in one block; refuses a non-finite embedding.
    static func copy(_ shard: MergeSurvey.Shard, from cursor: Int, window: Range<Int>, into rows: inout StoreRows,
                     files: ShardFileCache) throws(FeatureStoreError) -> Int {
        guard cursor < shard.count else { return cursor }
        let reader = try files.reader(shard.url)
        let d = reader.dim
        let limit = min(shard.count, cursor + window.count)
        let indices: [Int64]
        let taken: Int
        if shard.isConsecutive {
            taken = max(0, min(limit, Int(Int64(window.upperBound) - shard.first)) - cursor)
            indices = []
        } else {
            indices = try reader.indices(rows: cursor..<limit)
            taken = indices.firstIndex(where: { $0 >= Int64(window.upperBound) }) ?? indices.count
        }
        guard taken > 0 else { return cursor }
        let local = cursor..<(cursor + taken)
        let slot = { (r: Int) -> Int in
            (shard.isConsecutive ? Int(shard.first) + cursor + r : Int(indices[r])) - window.lowerBound
        }
        if shard.isConsecutive {
            // Consecutive in the shard and in the window: read straight into the output.
            let offset = slot(0) * d
            try rows.embeddings.withUnsafeMutableBufferPointer { (out) throws(FeatureStoreError) in
                try reader.readEmbeddings(rows: local, into: UnsafeMutableBufferPointer(rebasing: out[offset..<(offset + taken * d)]))
            }
        } else {
            let block = try reader.embeddings(rows: local)
            rows.embeddings.withUnsafeMutableBufferPointer { out in
                for r in 0..<taken {
                    let to = slot(r) * d
                    for j in 0..<d { out[to + j] = block[r * d + j] }
                }
            }
        }
        let paths = try reader.paths(rows: local), labels = try reader.labels(rows: local)
        let codes = try reader.statusCodes(rows: local)
        let reasons = codes.contains(StoreFormat.statusFailed) ? try reader.failureReasons(rows: local) : []
        for r in 0..<taken {
            let at = slot(r)
            let failed = codes[r] != StoreFormat.statusOK
            if !failed, rows.embeddings[(at * d)..<((at + 1) * d)].contains(where: { !$0.isFinite }) {
                throw .nonFinite(path: shard.url.path, row: cursor + r, index: Int64(window.lowerBound + at))
            }
            rows.paths[at] = paths[r]
            rows.labels[at] = labels[r]
            rows.statuses[at] = failed ? .failed(reason: reasons[r]) : .ok
        }
        return cursor + taken
    }

    /// Throws `shardMismatch` naming `path` (a shard of provenance `b`) for the first field that
    /// differs from the first shard's (`a`). The list's hash and label names are compared only
    /// where both shards record them.
    static func checkCompatible(_ b: StoreProvenance, _ bKind: StoreKind, path: String, with a: StoreProvenance, _ aKind: StoreKind,
                                modelOnly: Bool) throws(FeatureStoreError) {
        var fields: [(String, String, String)] = [
            ("model fingerprint", a.modelFingerprint, b.modelFingerprint),
            ("architecture", a.architecture, b.architecture),
            ("embedding dim", "\(a.embeddingDim)", "\(b.embeddingDim)"),
            ("preprocessing preset", a.preprocessingPreset, b.preprocessingPreset),
            ("flip", "\(a.flip)", "\(b.flip)"),
            ("random weights", "\(a.randomWeights)", "\(b.randomWeights)"),
        ]
        if !modelOnly {
            if case let .shard(x) = aKind, case let .shard(y) = bKind, x != y {
                throw .shardMismatch(path: path, field: "total rows", expected: "\(x)", found: "\(y)")
            }
            if !a.imageListSHA256.isEmpty, !b.imageListSHA256.isEmpty {
                fields.append(("image list SHA-256", a.imageListSHA256, b.imageListSHA256))
            }
            if !a.labelNames.isEmpty, !b.labelNames.isEmpty {
                fields.append(("label names", "\(a.labelNames.count) names",
                               a.labelNames == b.labelNames ? "\(a.labelNames.count) names" : "\(b.labelNames.count) different names"))
            }
        }
        for (field, expected, found) in fields where expected != found {
            throw .shardMismatch(path: path, field: field, expected: expected, found: found)
        }
    }
}

/// The merge's first pass: every shard checked, one open at a time, down to what the second
/// pass needs of it.
struct MergeSurvey {
    struct Shard {
        let url: URL
        let count: Int
        /// Its first and last global index.
        let first: Int64
        let last: Int64
        /// Its rows hold `first`, `first + 1`, ... `last` (every shard a coordinator writes).
        var isConsecutive: Bool { last - first + 1 == Int64(count) }
    }

    /// Non-empty shards sorted by first index.
    let shards: [Shard]
    let total: Int
    /// The first shard's provenance, with the list's hash and label names of the first shard
    /// that records them.
    let provenance: StoreProvenance
    /// A shard with a labelled row (label >= 0), when asked for and no shard records label
    /// names (only then are the shards' labels read).
    let firstLabelled: URL?

    init(_ urls: [URL], totalRows: Int?, modelOnly: Bool, findLabelled: Bool) throws(FeatureStoreError) {
        guard !urls.isEmpty else { throw .noShards }
        var first: (provenance: StoreProvenance, kind: StoreKind, path: String)?
        var provenance: StoreProvenance?
        var total = totalRows ?? 0
        var seen: [UInt64] = []
        var shards: [Shard] = []
        var labelled: URL?
        for url in urls {
            let reader = try FeatureStoreReader(url: url, expecting: "shard")
            if let first {
                try StoreMerger.checkCompatible(reader.provenance, reader.kind, path: url.path, with: first.provenance, first.kind,
                                                modelOnly: modelOnly)
                if provenance!.labelNames.isEmpty { provenance!.labelNames = reader.labelNames }
                if provenance!.imageListSHA256.isEmpty { provenance!.imageListSHA256 = reader.provenance.imageListSHA256 }
            } else {
                first = (reader.provenance, reader.kind, url.path)
                provenance = reader.provenance
                if totalRows == nil, case let .shard(shardTotal) = reader.kind { total = shardTotal }
                seen = [UInt64](repeating: 0, count: (total + 63) / 64)
            }
            let indices = try reader.indices()
            for (row, index) in indices.enumerated() {
                guard index >= 0, index < Int64(total) else { throw .indexOutOfRange(path: url.path, index: index, total: Int64(total)) }
                let word = Int(index >> 6), bit = UInt64(1) << UInt64(index & 63)
                if seen[word] & bit != 0 {
                    throw .duplicateIndex(index: index, first: try Self.holder(of: index, in: shards)?.path ?? url.path, second: url.path)
                }
                seen[word] |= bit
                if row > 0, index < indices[row - 1] {
                    throw .inconsistent(path: url.path, detail: "/indices is not ascending (row \(row) has \(index) after \(indices[row - 1])); a shard's rows are in global index order")
                }
            }
            if findLabelled, labelled == nil, provenance!.labelNames.isEmpty, try reader.labels().contains(where: { $0 >= 0 }) {
                labelled = url
            }
            if let low = indices.first, let high = indices.last {
                shards.append(Shard(url: url, count: indices.count, first: low, last: high))
            }
        }
        for (w, word) in seen.enumerated() where word != UInt64.max {
            let index = w * 64 + (~word).trailingZeroBitCount
            if index < total { throw .missingIndex(index: Int64(index), total: Int64(total)) }
        }
        self.shards = shards.sorted { $0.first < $1.first }
        self.total = total
        self.provenance = provenance!
        firstLabelled = labelled
    }

    /// The shard among `shards` that holds `index` (reopened: only on the error path).
    static func holder(of index: Int64, in shards: [Shard]) throws(FeatureStoreError) -> URL? {
        for shard in shards where shard.first <= index && index <= shard.last {
            if shard.isConsecutive { return shard.url }
            if try FeatureStoreReader(url: shard.url, expecting: "shard").indices().contains(index) { return shard.url }
        }
        return nil
    }
}

/// The merge's open shard files: at most `capacity`, the least recently used closed first.
final class ShardFileCache {
    let capacity: Int
    private var open: [(url: URL, reader: FeatureStoreReader)] = []

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func reader(_ url: URL) throws(FeatureStoreError) -> FeatureStoreReader {
        if let i = open.firstIndex(where: { $0.url == url }) {
            let entry = open.remove(at: i)
            open.append(entry)
            return entry.reader
        }
        if open.count == capacity { open.removeFirst() }
        let reader = try FeatureStoreReader(url: url, expecting: "shard")
        open.append((url, reader))
        return reader
    }
}
