import FeatureStore
import Foundation
import TestSupport
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
        merger.provenance = provenance(dim: 6)  // shards keep no label names: the run gives them
        merger.memoryBudget = 1  // windows of 64 rows: interleaved shards are read window by window
        merger.maxOpenShards = 1
        let summary = try merger.merge()
        #expect(summary.rows == 103 && summary.shards == 3 && summary.okRows == 103 - 20)
        let store = try FeatureStoreReader(url: dir.appendingPathComponent("store.h5"), expecting: "store")
        #expect(try store.paths() == rows.paths)
        #expect(try store.labels() == rows.labels)
        #expect(try store.statuses() == rows.statuses)
        #expect(try store.embeddings(rows: 0..<103) == rows.embeddings)
        #expect(store.provenance.modelFingerprint == "sha256:feedface")
        #expect(store.labelNames == ["alice", "bob", "Zoë"])
    }

    /// A shard records neither the list's hash nor the label names (the run has them once), and
    /// no chunk of it is larger than its rows.
    @Test func aShardIsSizedToItsRowsAndKeepsNoRunWideData() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = randomRows(40, dim: 6, seed: 13)
        let url = try writeShards(rows, dim: 6, parts: [Array(0..<40)], in: dir)[0]
        let shard = try FeatureStoreReader(url: url, expecting: "shard")
        #expect(shard.embeddingChunkRows == 40)
        #expect(shard.labelNames.isEmpty && shard.provenance.imageListSHA256.isEmpty)
        if let python = peerPython {
            let h5py = try runPython(python, script: """
                import h5py, sys
                f = h5py.File(sys.argv[1], "r")
                print(sorted(f.keys()), "image_list_sha256" in f.attrs, [f[k].chunks[0] for k in sorted(f.keys())])
                """, arguments: [url.path])
            #expect(h5py.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == "['embeddings', 'failure_reasons', 'indices', 'labels', 'norms', 'paths', 'status'] False [40, 40, 40, 40, 40, 40, 40]")
        }
        // Without the run's label names, labelled shards are refused, saying where the names are.
        let error = #expect(throws: FeatureStoreError.self) {
            try StoreMerger(shards: [url], output: dir.appendingPathComponent("out.h5")).merge()
        }
        #expect(error == .noLabelNames(path: url.path) && error?.description.contains("--run-dir") == true)
    }

    /// A process out of file descriptors says so, with its limit and the fix, whichever file
    /// it was opening: never "not an HDF5 file". Each tight limit either merges or fails so.
    @Test func runningOutOfDescriptorsIsNamed() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rows = randomRows(40, dim: 6, seed: 15)
        rows.labels = Array(repeating: -1, count: 40)
        let shards = try writeShards(rows, dim: 6, parts: stride(from: 0, to: 40, by: 5).map { Array($0..<($0 + 5)) }, in: dir)
        var refusals = 0
        for limit in 4...9 {
            let out = dir.appendingPathComponent("out-\(limit).h5")
            let result = try MagfleetProcess.run(["merge"] + shards.map(\.path) + ["--out", out.path], descriptorLimit: limit)
            if result.status == 0 {
                #expect(try FeatureStoreReader(url: out, expecting: "store").count == 40)
                continue
            }
            refusals += 1
            #expect(result.status == 1)
            #expect(result.stderr.contains("too many open files (this process may hold \(limit): `ulimit -n`)"), "\(result.stderr)")
            #expect(!result.stderr.contains("not an HDF5 file"))
            #expect(!FileManager.default.fileExists(atPath: out.path))
        }
        #expect(refusals > 0, "a limit of 4 leaves one descriptor: the merge cannot hold a shard and its output")
    }

    /// The merge holds a few files open whatever the number of shards: 300 shards merge under
    /// a limit of 64 descriptors in a child process (the test's own process keeps its limit).
    @Test func manyShardsMergeUnderASmallDescriptorLimit() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 1_200
        var rows = randomRows(n, dim: 6, seed: 14)
        rows.labels = Array(repeating: -1, count: n)  // distractors: no label names needed
        let parts = stride(from: 0, to: n, by: 4).map { Array($0..<min($0 + 4, n)) }
        let shards = try writeShards(rows, dim: 6, parts: parts, in: dir)
        let out = dir.appendingPathComponent("store.h5")
        let result = try MagfleetProcess.run(["merge"] + shards.map(\.path) + ["--out", out.path], descriptorLimit: 64)
        #expect(result.status == 0, "\(result.stderr)")
        let store = try FeatureStoreReader(url: out, expecting: "store")
        #expect(try store.embeddings(rows: 0..<n) == rows.embeddings)
        #expect(try store.paths() == rows.paths && store.count == n)
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
