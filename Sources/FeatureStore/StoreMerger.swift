import Foundation

/// Merges shard files into one store, ordered by global index.
///
/// Refuses (naming the shard, or the index) when a shard is incomplete or foreign, when
/// shards disagree on model fingerprint, architecture, dim, preset, flip, image list, label
/// names or run size, when an index appears twice, or when one is missing; and, as it reads
/// the rows, when a chunk fails its checksum (`checksumMismatch`) or an embedding holds NaN or
/// an infinity (`nonFinite`): no output is left then. `FeatureStoreError.file` names the shard
/// at fault (or the output, for a write error such as `noSpace`). Streams: it holds
/// each shard's index column, one block of rows per shard, and one output batch, never the
/// whole matrix. The output is written atomically (see `FeatureStoreWriter`).
public struct StoreMerger {
    public struct Summary: Sendable {
        public var rows: Int
        public var okRows: Int
        public var shards: Int
    }

    public let shards: [URL]
    public let output: URL
    public var options: StoreWriteOptions
    /// Bytes of embeddings held in shard read blocks, all shards together.
    public var memoryBudget: Int = 256 << 20
    /// Rows per output batch.
    public var batchRows: Int = 8192

    /// What the store records instead of the first shard's provenance, and its row count
    /// instead of the shards' `total_rows`: a run whose list grew since its first shards were
    /// written merges old and new shards under the list's current hash and labels. The shards
    /// must then agree only on the model (the run directory's journal vouches for the list).
    public var provenance: StoreProvenance?
    public var totalRows: Int?
    /// Called after each output batch with the rows written so far and the store's rows.
    public var progress: ((_ written: Int, _ total: Int) -> Void)?

    public init(shards: [URL], output: URL, options: StoreWriteOptions = .init()) {
        self.shards = shards
        self.output = output
        self.options = options
    }

    public func merge() throws(FeatureStoreError) -> Summary {
        guard !shards.isEmpty else { throw .noShards }
        let readers = try shards.map { (url) throws(FeatureStoreError) in try FeatureStoreReader(url: url, expecting: "shard") }
        let first = readers[0]
        guard case let .shard(shardTotal) = first.kind else { preconditionFailure("reader checked the kind") }
        let total = totalRows ?? shardTotal
        for reader in readers.dropFirst() { try Self.checkCompatible(reader, with: first, modelOnly: provenance != nil) }

        // Where each global index lives: owner shard and row in it.
        var owner = [Int32](repeating: -1, count: total)
        var local = [Int32](repeating: 0, count: total)
        for (s, reader) in readers.enumerated() {
            let indices = try reader.indices()
            for (row, index) in indices.enumerated() {
                guard index >= 0, index < total else { throw .indexOutOfRange(path: reader.url.path, index: index, total: Int64(total)) }
                let previous = owner[Int(index)]
                if previous >= 0 { throw .duplicateIndex(index: index, first: readers[Int(previous)].url.path, second: reader.url.path) }
                owner[Int(index)] = Int32(s)
                local[Int(index)] = Int32(row)
            }
        }
        if let missing = owner.firstIndex(of: -1) { throw .missingIndex(index: Int64(missing), total: Int64(total)) }

        var provenance = self.provenance ?? first.provenance
        provenance.createdAt = StoreProvenance.now()
        let writer = try FeatureStoreWriter(url: output, provenance: provenance, kind: .store, options: options)
        let d = first.dim
        let blockRows = max(64, min(16384, memoryBudget / max(1, readers.count * d * 4)))
        let cursors = readers.map { ShardCursor(reader: $0, blockRows: blockRows) }
        var start = 0
        while start < total {
            let end = min(start + batchRows, total)
            var rows = StoreRows()
            rows.embeddings = [Float](repeating: 0, count: (end - start) * d)
            rows.paths.reserveCapacity(end - start)
            rows.labels.reserveCapacity(end - start)
            rows.statuses.reserveCapacity(end - start)
            for g in start..<end {
                let cursor = cursors[Int(owner[g])]
                let r = try cursor.locate(Int(local[g]))
                rows.paths.append(cursor.paths[r])
                rows.labels.append(cursor.labels[r])
                rows.statuses.append(cursor.codes[r] == StoreFormat.statusOK ? .ok : .failed(reason: cursor.reasons[r]))
                let destination = (g - start) * d
                rows.embeddings.withUnsafeMutableBufferPointer { out in
                    cursor.embeddings.withUnsafeBufferPointer { block in
                        for j in 0..<d { out[destination + j] = block[r * d + j] }
                    }
                }
            }
            try writer.append(rows)
            start = end
            progress?(end, total)
        }
        let okRows = writer.okCount
        try writer.finish()
        return Summary(rows: total, okRows: okRows, shards: readers.count)
    }

    /// Throws `shardMismatch` naming `reader`'s file for the first field that differs from `first`.
    static func checkCompatible(_ reader: FeatureStoreReader, with first: FeatureStoreReader, modelOnly: Bool = false) throws(FeatureStoreError) {
        let a = first.provenance, b = reader.provenance
        let all: [(String, String, String)] = [
            ("model fingerprint", a.modelFingerprint, b.modelFingerprint),
            ("architecture", a.architecture, b.architecture),
            ("embedding dim", "\(a.embeddingDim)", "\(b.embeddingDim)"),
            ("preprocessing preset", a.preprocessingPreset, b.preprocessingPreset),
            ("flip", "\(a.flip)", "\(b.flip)"),
            ("image list SHA-256", a.imageListSHA256, b.imageListSHA256),
            ("random weights", "\(a.randomWeights)", "\(b.randomWeights)"),
            ("label names", "\(a.labelNames.count) names", a.labelNames == b.labelNames ? "\(a.labelNames.count) names" : "\(b.labelNames.count) different names"),
        ]
        let fields = modelOnly ? all.filter { $0.0 != "image list SHA-256" && $0.0 != "label names" } : all
        if !modelOnly, case let .shard(x) = first.kind, case let .shard(y) = reader.kind, x != y {
            throw .shardMismatch(path: reader.url.path, field: "total rows", expected: "\(x)", found: "\(y)")
        }
        for (field, expected, found) in fields where expected != found {
            throw .shardMismatch(path: reader.url.path, field: field, expected: expected, found: found)
        }
    }
}

/// One shard's current block of rows (all columns), read on demand.
private final class ShardCursor {
    let reader: FeatureStoreReader
    let blockRows: Int
    var blockStart = 0
    var blockCount = 0
    var embeddings: [Float] = []
    var paths: [String] = []
    var labels: [Int64] = []
    var codes: [UInt8] = []
    var reasons: [String] = []

    init(reader: FeatureStoreReader, blockRows: Int) {
        self.reader = reader
        self.blockRows = blockRows
    }

    /// Makes sure shard row `row` is in the block and returns its offset in it. The read checks
    /// the chunks' checksums; a non-finite value is refused here.
    func locate(_ row: Int) throws(FeatureStoreError) -> Int {
        if row >= blockStart, row < blockStart + blockCount { return row - blockStart }
        let range = row..<min(row + blockRows, reader.count)
        embeddings = try reader.embeddings(rows: range)
        if let bad = embeddings.firstIndex(where: { !$0.isFinite }) {
            let badRow = range.lowerBound + bad / reader.dim
            let index = try reader.indices(rows: badRow..<(badRow + 1))[0]
            throw .nonFinite(path: reader.url.path, row: badRow, index: index)
        }
        paths = try reader.paths(rows: range)
        labels = try reader.labels(rows: range)
        codes = try reader.statusCodes(rows: range)
        reasons = try reader.failureReasons(rows: range)
        blockStart = range.lowerBound
        blockCount = range.count
        return 0
    }
}
