import FeatureStore
import Foundation
import Testing

/// The quick look a resuming coordinator takes at each journaled shard (issue 16, item 6).
@Suite struct ShardFileSummaryTests {
    func writeShard(_ url: URL, indices: [Int], total: Int, failing: Set<Int> = []) throws {
        let writer = ShardWriter(url: url, provenance: provenance(dim: 4), totalRows: total)
        for g in indices {
            if failing.contains(g) { try writer.addFailure(index: g, path: "p\(g)", label: -1, reason: "decode: bad") }
            else { try writer.add(index: g, path: "p\(g)", label: 0, embedding: [1, 2, 3, Float(g)]) }
        }
        try writer.finish()
    }

    @Test func aWholeShardIsSummarizedWithoutItsEmbeddings() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("8-4.h5")
        try writeShard(url, indices: [11, 8, 9, 10], total: 40, failing: [9])
        #expect(try ShardFileSummary.read(url) == ShardFileSummary(
            count: 4, okCount: 3, failedCount: 1, totalRows: 40, dim: 4, modelFingerprint: "sha256:feedface", indices: [8, 9, 10, 11]))
    }

    @Test func missingTruncatedAndForeignFilesFailByName() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("0-4.h5")
        #expect(throws: FeatureStoreError.missingFile(path: url.path)) { try ShardFileSummary.read(url) }
        try writeShard(url, indices: [0, 1, 2, 3], total: 8)
        let bytes = try Data(contentsOf: url)
        for cut in [bytes.count / 2, 1200, 8] {
            try bytes.prefix(cut).write(to: url)
            let error = #expect(throws: FeatureStoreError.self) { try ShardFileSummary.read(url) }
            #expect(error?.file == url.path, "cut at \(cut): \(String(describing: error))")
        }
        let store = dir.appendingPathComponent("store.h5")
        try writeStore(randomRows(4, dim: 4, seed: 2), dim: 4, to: store)
        #expect(throws: FeatureStoreError.wrongKind(path: store.path, expected: "shard", found: "store")) { try ShardFileSummary.read(store) }
    }
}
