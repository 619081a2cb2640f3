import FeatureStore
import Foundation
import Testing

@Suite struct MergeTests {
    /// Splits `rows` (global order) into shards with the given global indices, each written in
    /// a scrambled order through ShardWriter.
    func writeShards(_ rows: StoreRows, dim: Int, parts: [[Int]], in dir: URL, provenanceFor: (Int) -> StoreProvenance = { _ in provenance(dim: 6) }) throws -> [URL] {
        try parts.enumerated().map { s, indices in
            let url = dir.appendingPathComponent("shard-\(s).h5")
            let writer = ShardWriter(url: url, provenance: provenanceFor(s), totalRows: rows.count)
            for g in indices.reversed() {
                if case let .failed(reason) = rows.statuses[g] {
                    try writer.addFailure(index: g, path: rows.paths[g], label: rows.labels[g], reason: reason)
                } else {
                    try writer.add(index: g, path: rows.paths[g], label: rows.labels[g], embedding: Array(rows.embeddings[(g * dim)..<((g + 1) * dim)]))
                }
            }
            try writer.finish()
            return url
        }
    }

    @Test func mergeOrdersByGlobalIndexAcrossInterleavedShards() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = randomRows(103, dim: 6, seed: 10)
        // Interleaved (round robin) and one contiguous block.
        let parts = [Array(stride(from: 0, to: 60, by: 2)), Array(stride(from: 1, to: 60, by: 2)), Array(60..<103)]
        let shards = try writeShards(rows, dim: 6, parts: parts, in: dir)
        let shard = try FeatureStoreReader(url: shards[0], expecting: "shard")
        #expect(try shard.indices() == parts[0].map { Int64($0) }, "a shard is sorted by global index")
        #expect(shard.kind == .shard(totalRows: 103))

        var merger = StoreMerger(shards: shards.shuffled(), output: dir.appendingPathComponent("store.h5"))
        merger.batchRows = 10       // several output batches
        merger.memoryBudget = 64 * 6 * 4 * 3  // tiny shard blocks: 64 rows each
        let summary = try merger.merge()
        #expect(summary.rows == 103 && summary.shards == 3 && summary.okRows == 103 - 20)
        let store = try FeatureStoreReader(url: dir.appendingPathComponent("store.h5"), expecting: "store")
        #expect(try store.paths() == rows.paths)
        #expect(try store.labels() == rows.labels)
        #expect(try store.statuses() == rows.statuses)
        #expect(try store.embeddings(rows: 0..<103) == rows.embeddings)
        #expect(store.provenance.modelFingerprint == "sha256:feedface")
    }

    @Test func duplicateAndMissingIndicesAreRefusedByName() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = randomRows(20, dim: 6, seed: 11)
        let dup = try writeShards(rows, dim: 6, parts: [Array(0..<12), Array(11..<20)], in: dir)
        #expect(throws: FeatureStoreError.duplicateIndex(index: 11, first: dup[0].path, second: dup[1].path)) {
            try StoreMerger(shards: dup, output: dir.appendingPathComponent("out.h5")).merge()
        }
        let gap = try writeShards(rows, dim: 6, parts: [Array(0..<7), Array(8..<20)], in: dir)
        #expect(throws: FeatureStoreError.missingIndex(index: 7, total: 20)) {
            try StoreMerger(shards: gap, output: dir.appendingPathComponent("out.h5")).merge()
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out.h5").path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.contains("partial") })
    }

    @Test func mismatchedShardsAreRefusedByName() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = randomRows(20, dim: 6, seed: 12)
        let shards = try writeShards(rows, dim: 6, parts: [Array(0..<10), Array(10..<20)], in: dir) { s in
            provenance(dim: 6, fingerprint: s == 1 ? "sha256:other" : "sha256:feedface")
        }
        let error = #expect(throws: FeatureStoreError.self) {
            try StoreMerger(shards: shards, output: dir.appendingPathComponent("out.h5")).merge()
        }
        #expect(error == .shardMismatch(path: shards[1].path, field: "model fingerprint", expected: "sha256:feedface", found: "sha256:other"))
        #expect(error?.description.contains("shard-1.h5") == true)

        // A shard of another dimension.
        let other = dir.appendingPathComponent("dim8.h5")
        let writer = ShardWriter(url: other, provenance: provenance(dim: 8), totalRows: 20)
        try writer.add(index: 0, path: "x", label: -1, embedding: Array(repeating: 0.5, count: 8))
        try writer.finish()
        #expect(throws: FeatureStoreError.shardMismatch(path: other.path, field: "embedding dim", expected: "6", found: "8")) {
            try StoreMerger(shards: [shards[0], other], output: dir.appendingPathComponent("out.h5")).merge()
        }
        // A whole store is not a shard.
        let store = dir.appendingPathComponent("store.h5")
        try writeStore(randomRows(4, dim: 6, seed: 1), dim: 6, to: store)
        #expect(throws: FeatureStoreError.wrongKind(path: store.path, expected: "shard", found: "store")) {
            try StoreMerger(shards: [store], output: dir.appendingPathComponent("out.h5")).merge()
        }
    }

    @Test func shardWriterRefusesBadIndices() throws {
        let writer = ShardWriter(url: URL(fileURLWithPath: "/nonexistent/s.h5"), provenance: provenance(dim: 2), totalRows: 5)
        try writer.add(index: 1, path: "a", label: -1, embedding: [1, 2])
        #expect(throws: FeatureStoreError.self) { try writer.add(index: 1, path: "b", label: -1, embedding: [1, 2]) }
        #expect(throws: FeatureStoreError.self) { try writer.add(index: 5, path: "c", label: -1, embedding: [1, 2]) }
        #expect(throws: FeatureStoreError.self) { try writer.add(index: 2, path: "d", label: -1, embedding: [1]) }
    }
}
