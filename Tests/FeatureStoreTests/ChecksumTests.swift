import FeatureStore
import Foundation
import Testing

/// Issue 16, item 4 (files): every fixed-size dataset carries Fletcher-32 checksums, so a shard
/// whose bytes changed is refused by name before the merge trusts it; and the merge refuses a
/// shard whose embeddings hold NaN, however it got there. Neither leaves an output.
@Suite struct ChecksumTests {
    /// A shard of `indices` whose embeddings are distinctive (findable in the file's bytes).
    func writeShard(_ url: URL, indices: [Int], total: Int, dim: Int = 6, nanAt: (row: Int, column: Int)? = nil) throws -> [Float] {
        let writer = ShardWriter(url: url, provenance: provenance(dim: dim), totalRows: total)
        var all: [Float] = []
        for (n, g) in indices.enumerated() {
            var v = (0..<dim).map { Float(1000 + g * dim + $0) + 0.375 }
            if let nanAt, nanAt.row == n { v[nanAt.column] = .nan }
            try writer.add(index: g, path: "img\(g).jpg", label: -1, embedding: v)
            all += v
        }
        try writer.finish()
        return all
    }

    static func outputs(in dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix("shard") }
    }

    @Test func aFlippedByteInAShardsEmbeddingsIsFoundByItsChecksum() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let shards = [dir.appendingPathComponent("shard-0.h5"), dir.appendingPathComponent("shard-1.h5")]
        let values = try writeShard(shards[0], indices: Array(0..<5), total: 9)
        _ = try writeShard(shards[1], indices: Array(5..<9), total: 9)
        // Row 2's values, as stored (little-endian float32): flip one bit of one of them.
        var bytes = try Data(contentsOf: shards[0])
        let row = Data(values[12..<18].flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        let at = try #require(bytes.range(of: row)).lowerBound + 9
        bytes[at] ^= 0x10
        try bytes.write(to: shards[0])

        let output = dir.appendingPathComponent("store.h5")
        let error = #expect(throws: FeatureStoreError.checksumMismatch(path: shards[0].path, dataset: "embeddings")) {
            try StoreMerger(shards: shards, output: output).merge()
        }
        #expect(error?.description.contains("shard-0.h5: checksum mismatch in /embeddings") == true)
        #expect(error?.file == shards[0].path)
        #expect(try Self.outputs(in: dir) == [])
        // Its other datasets still read: the damage is where the checksum says.
        let reader = try FeatureStoreReader(url: shards[0], expecting: "shard")
        #expect(try reader.indices() == [0, 1, 2, 3, 4])
        #expect(throws: FeatureStoreError.checksumMismatch(path: shards[0].path, dataset: "embeddings")) {
            try reader.embeddings(rows: 0..<5)
        }
    }

    @Test func aShardWithNaNIsNeverMerged() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let shards = [dir.appendingPathComponent("shard-0.h5"), dir.appendingPathComponent("shard-1.h5")]
        _ = try writeShard(shards[0], indices: Array(0..<5), total: 9)
        _ = try writeShard(shards[1], indices: Array(5..<9), total: 9, nanAt: (row: 3, column: 4))
        let error = #expect(throws: FeatureStoreError.nonFinite(path: shards[1].path, row: 3, index: 8)) {
            try StoreMerger(shards: shards, output: dir.appendingPathComponent("store.h5")).merge()
        }
        #expect(error?.description.contains("shard-1.h5: row 3 (global index 8) has a non-finite embedding") == true)
        #expect(try Self.outputs(in: dir) == [])
    }

    /// A shard patched with NaN after it was written (by h5py, which keeps the checksums right).
    @Test(.enabled(if: peerPython != nil, "no python with h5py+numpy: set MAGFLEET_PEER_PYTHON"))
    func aShardPatchedWithNaNByH5pyIsNeverMerged() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let shards = [dir.appendingPathComponent("shard-0.h5"), dir.appendingPathComponent("shard-1.h5")]
        _ = try writeShard(shards[0], indices: [0, 2, 4, 6], total: 8)
        _ = try writeShard(shards[1], indices: [1, 3, 5, 7], total: 8)
        let patch = """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], "r+") as f:
                assert f["embeddings"].fletcher32
                f["embeddings"][2, 1] = np.nan
            """
        let result = try runPython(peerPython!, script: patch, arguments: [shards[0].path])
        #expect(result.status == 0, "\(result.output)")
        #expect(throws: FeatureStoreError.nonFinite(path: shards[0].path, row: 2, index: 4)) {
            try StoreMerger(shards: shards, output: dir.appendingPathComponent("store.h5")).merge()
        }
        #expect(try Self.outputs(in: dir) == [])
    }
}
