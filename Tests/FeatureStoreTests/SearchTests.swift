import FeatureStore
import Base
import Foundation
import Testing

@Suite struct SearchTests {
    /// The fixture's base as a store, with labels row % 3 and every 7th row failed.
    func fixtureStore(in dir: URL) throws -> (FeatureStoreReader, [Float]) {
        let base = try NumpyArray.read(try fixture("search_base.npy"))
        var rows = StoreRows(embeddings: base.values)
        for i in 0..<base.rows {
            rows.paths.append("p/\(i).jpg")
            rows.labels.append(Int64(i % 3))
            rows.statuses.append(.ok)
        }
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: base.columns, to: url)
        return (try FeatureStoreReader(url: url), base.values)
    }

    @Test func topTenMatchesNumpy() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (reader, _) = try fixtureStore(in: dir)
        let index = try NearestNeighbors(reader: reader)
        let queries = try NumpyArray.read(try fixture("search_queries.npy"))
        let expectedRows = try NumpyArray.read(try fixture("search_top_rows.npy")).values
        let expectedScores = try NumpyArray.read(try fixture("search_top_scores.npy")).values
        let results = try index.search(queries.values, top: 10)
        #expect(results.count == 6)
        for (q, result) in results.enumerated() {
            #expect(result.map(\.row) == (0..<10).map { Int(expectedRows[q * 10 + $0]) }, "query \(q)")
            for (k, neighbor) in result.enumerated() {
                // float32 sgemm vs numpy float64: 1e-5 on a cosine in [-1, 1].
                #expect(abs(neighbor.score - expectedScores[q * 10 + k]) < 1e-5)
                #expect(neighbor.path == "p/\(neighbor.row).jpg")
                #expect(neighbor.labelName == ["alice", "bob", "Zoë"][neighbor.row % 3])
            }
        }
        // One query at a time gives the same rows as the batch; scores may differ in the last
        // float32 bits (sgemm picks another kernel for one row), so 1e-6.
        let single = try index.search(Array(queries.values[0..<32]), top: 10)[0]
        #expect(single.map(\.row) == results[0].map(\.row))
        #expect(zip(single, results[0]).allSatisfy { abs($0.score - $1.score) < 1e-6 })
    }

    @Test func filtersOnNormLabelAndExcludedRows() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (reader, _) = try fixtureStore(in: dir)
        let index = try NearestNeighbors(reader: reader)
        let norms = try reader.norms()
        let query = index.unitEmbedding(at: 5)
        let sorted = norms.sorted()
        let median = sorted[sorted.count / 2]
        let results = try index.search(query, top: 20, filter: NeighborFilter(minNorm: median, labels: [2], excludedRows: [5]))[0]
        #expect(results.count == 20)
        #expect(results.allSatisfy { $0.norm >= median && $0.label == 2 && $0.row != 5 })
        // Brute-force reference over the allowed rows, in Double.
        let all = try reader.embeddings(rows: 0..<reader.count)
        let allowed = (0..<reader.count).filter { norms[$0] >= median && $0 % 3 == 2 && $0 != 5 }
        let q = query.map(Double.init)
        let reference = allowed.map { r -> (Int, Double) in
            let v = all[(r * 32)..<((r + 1) * 32)].map(Double.init)
            let dot = zip(q, v).map(*).reduce(0, +)
            return (r, dot / v.map { $0 * $0 }.reduce(0, +).squareRoot())
        }.sorted { $0.1 > $1.1 }
        #expect(results.map(\.row) == reference.prefix(20).map(\.0))
        #expect(index.position(ofPath: "p/17.jpg") == 17)
        #expect(index.position(ofRow: 299) == 299)
    }

    @Test func failedRowsAreNotSearchable() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.h5")
        let rows = randomRows(25, dim: 8, seed: 20)
        try writeStore(rows, dim: 8, to: url)
        let index = try NearestNeighbors(reader: try FeatureStoreReader(url: url))
        #expect(index.count == 20)
        let results = try index.search(Array(rows.embeddings[0..<8]), top: 25)[0]
        #expect(results.count == 20)
        #expect(results.allSatisfy { rows.statuses[$0.row].isOK })
        #expect(results[0].row == 0)
        #expect(abs(results[0].score - 1) < 1e-5)  // a vector with itself, float32 rounding
        #expect(throws: FeatureStoreError.self) { try index.search([1, 2, 3], top: 3) }
    }
}

/// The scan over mapped embeddings (issue 17, item 5): the same top K as a plain float32
/// reference, self-row exclusion per query, batching, and the layouts that cannot be mapped.
@Suite struct ScanTests {
    /// A reference top K in Double over `rows` (store rows allowed), ties by row.
    static func reference(_ query: [Float], _ rows: StoreRows, dim: Int, allowed: (Int) -> Bool, top: Int) -> [Int] {
        let q = query.map(Double.init)
        let qn = q.map { $0 * $0 }.reduce(0, +).squareRoot()
        let scored = (0..<rows.paths.count).filter(allowed).map { r -> (Int, Double) in
            let v = rows.embeddings[(r * dim)..<((r + 1) * dim)].map(Double.init)
            return (r, zip(q, v).map(*).reduce(0, +) / (qn * v.map { $0 * $0 }.reduce(0, +).squareRoot()))
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(top).map(\.0)
    }

    @Test(arguments: [(chunk: 64, compress: false), (chunk: 1000, compress: false), (chunk: 64, compress: true)])
    func mappedOrReadScanMatchesReference(chunk: Int, compress: Bool) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dim = 24, n = 1037  // odd: a partial last chunk
        let rows = randomRows(n, dim: dim, seed: 41)
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: dim, to: url, options: StoreWriteOptions(chunkRows: chunk, compress: compress))
        let reader = try FeatureStoreReader(url: url)
        let stored = try reader.storedEmbeddings()
        #expect(stored.isMapped == !compress)
        // Every row reads back bit for bit from the mapping.
        let all = try reader.embeddings(rows: 0..<n)
        for r in [0, 1, 63, 64, 65, 999, 1000, n - 1] { #expect(Array(stored.row(r)) == Array(all[(r * dim)..<((r + 1) * dim)])) }
        let index = try NearestNeighbors(reader: reader)
        #expect(index.isMapped == !compress)
        #expect(index.count == rows.statuses.filter(\.isOK).count)
        var rng = SeededGenerator(seed: 9)
        let queries = (0..<7 * dim).map { _ in Float.random(in: -1...1, using: &rng) }
        let batch = try index.search(queries, top: 15)
        for q in 0..<7 {
            let query = Array(queries[(q * dim)..<((q + 1) * dim)])
            let expected = Self.reference(query, rows, dim: dim, allowed: { rows.statuses[$0].isOK }, top: 15)
            #expect(batch[q].map(\.row) == expected, "query \(q)")
            let single = try index.search(query, top: 15)[0]
            #expect(single.map(\.row) == expected, "single query \(q)")
            #expect(zip(single, batch[q]).allSatisfy { abs($0.score - $1.score) < 1e-5 })
        }
    }

    @Test func eachQueryLeavesOutItsOwnRowInOneBatch() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dim = 16, n = 600
        let rows = randomRows(n, dim: dim, seed: 5)
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: dim, to: url, options: StoreWriteOptions(chunkRows: 50))
        let index = try NearestNeighbors(reader: try FeatureStoreReader(url: url))
        let own = [0, 7, 599, 120, 7]  // ok rows, one twice
        let positions = own.map { index.position(ofRow: $0)! }
        let queries = positions.flatMap { index.unitEmbedding(at: $0) }
        let batched = try index.search(queries, top: 8, excluding: own)
        let kept = try index.search(queries, top: 8)
        for (q, row) in own.enumerated() {
            #expect(kept[q].first?.row == row)  // itself first when not excluded
            #expect(!batched[q].contains { $0.row == row })
            let alone = try index.search(Array(queries[(q * dim)..<((q + 1) * dim)]), top: 8, filter: NeighborFilter(excludedRows: [row]))[0]
            #expect(batched[q].map(\.row) == alone.map(\.row))
            #expect(batched[q].map(\.row) == Array(kept[q].map(\.row).filter { $0 != row }.prefix(8)) || kept[q].count < 9)
        }
        // Filters still apply together with exclusion.
        let filtered = try index.search(queries, top: 5, filter: NeighborFilter(labels: [1]), excluding: own)
        #expect(filtered.allSatisfy { $0.allSatisfy { $0.label == 1 } })
        #expect(throws: FeatureStoreError.self) { try index.search(queries, top: 3, excluding: [nil]) }
    }

    @Test func concurrentSearchesShareScansAndGetTheirOwnAnswers() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dim = 32, n = 3000
        let rows = randomRows(n, dim: dim, seed: 77)
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: dim, to: url)
        let index = try NearestNeighbors(reader: try FeatureStoreReader(url: url))
        let batcher = SearchBatcher(index: index, maxBatch: 64)
        defer { batcher.stop() }
        var rng = SeededGenerator(seed: 3)
        let queries = (0..<40).map { _ in (0..<dim).map { _ in Float.random(in: -1...1, using: &rng) } }
        let tops = (0..<40).map { 1 + $0 % 12 }
        let results = try await withThrowingTaskGroup(of: (Int, [Neighbor]).self) { group in
            for (i, q) in queries.enumerated() {
                group.addTask {
                    let filter = i % 3 == 0 ? NeighborFilter(minNorm: 3) : NeighborFilter()
                    return (i, try await batcher.search(q, top: tops[i], filter: filter, excluding: i % 5 == 0 ? [i] : [])[0])
                }
            }
            var out = [[Neighbor]](repeating: [], count: queries.count)
            for try await (i, r) in group { out[i] = r }
            return out
        }
        for (i, q) in queries.enumerated() {
            let filter = i % 3 == 0 ? NeighborFilter(minNorm: 3) : NeighborFilter()
            let alone = try index.search(q, top: tops[i], filter: filter, excluding: i % 5 == 0 ? [i] : [])[0]
            // The same rows; scores to float32 rounding (a batch is one sgemm, a lone query sgemv).
            #expect(results[i].map(\.row) == alone.map(\.row), "query \(i)")
            #expect(zip(results[i], alone).allSatisfy { abs($0.score - $1.score) < 1e-5 })
        }
        let stats = batcher.statistics
        #expect(stats.queries == 40)
        #expect(stats.scans <= 40)
    }
}
