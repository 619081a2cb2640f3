import FeatureStore
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
