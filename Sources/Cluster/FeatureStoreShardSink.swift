import FeatureStore
import Foundation
import ClusterCore

/// The production sink: each finished shard is an HDF5 shard file of the feature store
/// (docs/feature-store.md) under `directory`, written under a temporary name, fsynced and
/// renamed by `ShardWriter`; the end of the run merges them with `StoreMerger` into one store
/// that h5py opens as it is. Rows arrive typed (path and label resolved by the coordinator
/// from the run's one list reader and label table); the sink parses nothing.
public final class FeatureStoreShardSink: ShardSink {
    public let directory: String
    /// The run's provenance: model, preset, flip, list hash, label names.
    public let provenance: StoreProvenance
    public let totalRows: Int

    public init(directory: String, provenance: StoreProvenance, totalRows: Int) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.shardFile(path: directory, reason: "cannot create: \(error)")
        }
        self.directory = directory
        self.provenance = provenance
        self.totalRows = totalRows
    }

    public func url(of key: ShardKey) -> URL {
        URL(fileURLWithPath: "\(directory)/\(key.first)-\(key.count).h5")
    }

    public func write(_ result: ShardResult) throws -> ShardTally {
        var rows = result.rows
        let key = result.patches ?? result.key
        if result.patches != nil {
            // A retry: the shard file's other rows stay as they are.
            let replaced = Dictionary(uniqueKeysWithValues: rows.map { ($0.index, $0) })
            rows = try read(key).map { replaced[$0.index] ?? $0 }
        }
        let writer = ShardWriter(url: url(of: key), provenance: provenance, totalRows: totalRows)
        for row in rows {
            switch row.outcome {
            case let .embedding(vector):
                try writer.add(index: Int(row.index), path: row.path, label: row.label, embedding: vector)
            case let .failure(failure):
                try writer.addFailure(index: Int(row.index), path: row.path, label: row.label, reason: failure.description)
            }
        }
        try writer.finish()
        return ShardTally(ShardResult(key: key, dim: result.dim, rows: rows))
    }

    /// The rows of a finished shard's file.
    func read(_ key: ShardKey) throws -> [ShardRow] {
        let reader = try FeatureStoreReader(url: url(of: key), expecting: "shard")
        let indices = try reader.indices(), paths = try reader.paths(), labels = try reader.labels()
        let statuses = try reader.statuses()
        let embeddings = try reader.embeddings(rows: 0..<reader.count)
        let d = reader.dim
        return indices.indices.map { r in
            let outcome: ShardRow.Outcome
            switch statuses[r] {
            case .ok: outcome = .embedding(Array(embeddings[(r * d)..<((r + 1) * d)]))
            case let .failed(reason): outcome = .failure(RowFailure(stored: reason))
            }
            return ShardRow(index: UInt64(indices[r]), path: paths[r], label: labels[r], outcome: outcome)
        }
    }

    public func failedRows(of key: ShardKey) throws -> [UInt64: RowFailure] {
        var failed: [UInt64: RowFailure] = [:]
        for row in try read(key) { if let f = row.failure { failed[row.index] = f } }
        return failed
    }

    public func merge(_ shards: [ShardKey], into destination: String,
                      progress: @escaping (_ written: Int, _ total: Int) -> Void = { _, _ in }) throws -> MergeSummary {
        try checkTiling(shards, total: UInt64(totalRows))
        var merger = StoreMerger(shards: shards.map(url(of:)), output: URL(fileURLWithPath: destination))
        merger.provenance = provenance
        merger.totalRows = totalRows
        merger.progress = progress
        let summary: StoreMerger.Summary
        do { summary = try merger.merge() } catch {  // typed: FeatureStoreError
            let byPath = Dictionary(uniqueKeysWithValues: shards.map { (url(of: $0).path, $0) })
            if let file = error.file, let key = byPath[file] { throw ClusterError.damagedShard(key: key, reason: "\(error)") }
            throw error
        }
        return MergeSummary(destination: destination, rows: summary.rows, embedded: summary.okRows, failed: summary.rows - summary.okRows)
    }

    public func problem(with tally: ShardTally) -> String? {
        let url = url(of: tally.key), key = tally.key
        let file: ShardFileSummary
        do { file = try ShardFileSummary.read(url) } catch { return "\(error)" }
        let path = url.path
        guard file.count == Int(key.count), file.indices == key.indices.map({ Int64($0) }) else {
            return "\(path): its \(file.count) rows are not the rows of shard \(key) (global indices \(key.indices.lowerBound)..<\(key.indices.upperBound))"
        }
        guard file.dim == provenance.embeddingDim, file.modelFingerprint == provenance.modelFingerprint else {
            return "\(path): made by another model (dim \(file.dim), fingerprint \(file.modelFingerprint))"
        }
        guard file.okCount == tally.embedded, file.failedCount == tally.failed else {
            return "\(path): \(file.okCount) embedded and \(file.failedCount) failed rows, the journal recorded \(tally.embedded) and \(tally.failed)"
        }
        return nil
    }

    public func verify(_ summary: MergeSummary) throws {
        let store = try FeatureStoreReader(url: URL(fileURLWithPath: summary.destination), expecting: "store")
        guard store.count == summary.rows, store.okCount == summary.embedded, store.failedCount == summary.failed,
              store.provenance.modelFingerprint == provenance.modelFingerprint else {
            throw ClusterError.merge("\(summary.destination) reads back as \(store.count) rows (\(store.okCount) embedded, \(store.failedCount) failed), not the \(summary.rows) merged")
        }
        try store.forEachEmbeddingChunk { _, _ in }  // every chunk's Fletcher-32 is checked on read
        _ = try store.norms()
    }

    public func finishedStore(at destination: String) -> (summary: MergeSummary, failuresByCategory: [String: UInt64])? {
        guard FileManager.default.fileExists(atPath: destination),
              let store = try? FeatureStoreReader(url: URL(fileURLWithPath: destination), expecting: "store"),
              store.count == totalRows, store.provenance.imageListSHA256 == provenance.imageListSHA256,
              store.provenance.modelFingerprint == provenance.modelFingerprint, store.provenance.flip == provenance.flip,
              store.provenance.preprocessingPreset == provenance.preprocessingPreset, store.labelNames == provenance.labelNames,
              let statuses = try? store.statuses() else { return nil }
        var categories: [String: UInt64] = [:]
        for case let .failed(reason) in statuses { categories[RowFailure(stored: reason).category, default: 0] += 1 }
        return (MergeSummary(destination: destination, rows: store.count, embedded: store.okCount, failed: store.failedCount), categories)
    }

    public func removeLeftovers(destination: String) -> (removed: [String], kept: [String]) {
        let shards = PartialFile.removeAll(in: URL(fileURLWithPath: directory))
        let store = PartialFile.removeStale(for: URL(fileURLWithPath: destination))
        return (shards + store.removed, store.kept)
    }
}

extension RowFailure {
    /// Reads back a stored reason, `category: reason` (the store's failure_reasons text).
    public init(stored text: String) {
        if let colon = text.range(of: ": "), !text[..<colon.lowerBound].contains(" ") {
            self.init(category: String(text[..<colon.lowerBound]), reason: String(text[colon.upperBound...]))
        } else {
            self.init(category: Category.unspecified, reason: text)
        }
    }
}
