import FeatureStore
import Foundation
import Testing

@Suite struct StoreFormatTests {
    @Test func writeThenReadGivesIdenticalRows() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.h5")
        let rows = randomRows(37, dim: 24, seed: 1)
        // Two appends and a small chunk so that datasets grow over several chunks.
        let writer = try FeatureStoreWriter(url: url, provenance: provenance(dim: 24), options: .init(chunkRows: 8, compress: true))
        var first = StoreRows(), second = StoreRows()
        for (part, range) in [(0, 0..<20), (1, 20..<37)] {
            var p = StoreRows(embeddings: Array(rows.embeddings[(range.lowerBound * 24)..<(range.upperBound * 24)]),
                              paths: Array(rows.paths[range]), labels: Array(rows.labels[range]), statuses: Array(rows.statuses[range]))
            if part == 0 { first = p } else { second = p }
            p = StoreRows()
        }
        try writer.append(first)
        try writer.append(second)
        #expect(!FileManager.default.fileExists(atPath: url.path), "the final name appears only at finish")
        try writer.finish()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["s.h5"], "no temporary file left")

        let reader = try FeatureStoreReader(url: url)
        #expect(reader.kind == .store)
        #expect(reader.count == 37 && reader.okCount == 30 && reader.failedCount == 7)
        #expect(reader.provenance == provenance(dim: 24))
        #expect(reader.embeddingChunkRows == 8)
        #expect(try reader.paths() == rows.paths)
        #expect(try reader.labels() == rows.labels)
        #expect(try reader.statuses() == rows.statuses)
        // Exact: float32 is stored as float32.
        #expect(try reader.embeddings(rows: 0..<37) == rows.embeddings)
        #expect(try reader.embeddings(rows: 10..<13) == Array(rows.embeddings[(10 * 24)..<(13 * 24)]))
        let norms = try reader.norms()
        for i in 0..<37 {
            let v = rows.embeddings[(i * 24)..<((i + 1) * 24)]
            let expected = rows.statuses[i].isOK ? v.map { $0 * $0 }.reduce(0, +).squareRoot() : 0
            #expect(abs(norms[i] - expected) <= 1e-5 * max(1, expected))  // float32 sum order
        }
        var seen: [Range<Int>] = []
        try reader.forEachEmbeddingChunk(chunkRows: 16) { range, chunk in
            seen.append(range)
            #expect(Array(chunk) == Array(rows.embeddings[(range.lowerBound * 24)..<(range.upperBound * 24)]))
        }
        #expect(seen == [0..<16, 16..<32, 32..<37])
    }

    @Test func droppedWriterLeavesNothing() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        do {
            let writer = try FeatureStoreWriter(url: dir.appendingPathComponent("s.h5"), provenance: provenance(dim: 4))
            try writer.append(randomRows(3, dim: 4, seed: 2))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func readsAConformingStoreWrittenByH5py() throws {
        let reader = try FeatureStoreReader(url: try fixture("h5py_store.h5"))
        #expect(reader.count == 7 && reader.failedCount == 2)
        #expect(reader.labelNames == ["Ana", "Zoë"])
        #expect(try reader.paths()[1] == "people/Zoë/img_1.jpg")
        #expect(try reader.statuses()[2] == .failed(reason: "decode: not a JPEG"))
        let expected = try NumpyArray.read(try fixture("h5py_store_embeddings.npy"))
        #expect(try reader.embeddings(rows: 0..<7) == expected.values)
        #expect(reader.provenance.randomWeights)
    }

    @Test func truncatedFileIsNamedAsSuch() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(randomRows(50, dim: 16, seed: 3), dim: 16, to: url)
        let data = try Data(contentsOf: url)
        try data.prefix(data.count / 2).write(to: url)
        let error = #expect(throws: FeatureStoreError.self) { try FeatureStoreReader(url: url) }
        guard case .unreadable = error else { Issue.record("expected .unreadable, got \(String(describing: error))"); return }
        #expect(error!.description.contains("truncated"))
    }

    @Test func notHDF5ForeignWrongVersionIncomplete() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("list.txt")
        try Data("a.jpg 1 2 3\n".utf8).write(to: text)
        #expect(throws: FeatureStoreError.notHDF5(path: text.path)) { try FeatureStoreReader(url: text) }
        #expect(throws: FeatureStoreError.missingFile(path: dir.appendingPathComponent("none.h5").path)) {
            try FeatureStoreReader(url: dir.appendingPathComponent("none.h5"))
        }

        let foreign = try fixture("foreign.h5")
        let error = #expect(throws: FeatureStoreError.self) { try FeatureStoreReader(url: foreign) }
        #expect(error?.description.contains("not a magfleet feature store") == true, "\(String(describing: error))")

        let wrong = try fixture("wrong_version.h5")
        #expect(throws: FeatureStoreError.unsupportedVersion(path: wrong.path, found: 99, supported: 1)) { try FeatureStoreReader(url: wrong) }

        let incomplete = try fixture("incomplete.h5")
        #expect(throws: FeatureStoreError.incomplete(path: incomplete.path)) { try FeatureStoreReader(url: incomplete) }
    }

    @Test func badRowsAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try FeatureStoreWriter(url: dir.appendingPathComponent("s.h5"), provenance: provenance(dim: 4))
        var rows = randomRows(3, dim: 4, seed: 4)
        rows.labels[1] = 7  // only 3 label names
        #expect(throws: FeatureStoreError.self) { try writer.append(rows) }
        rows = randomRows(3, dim: 4, seed: 4)
        rows.embeddings.removeLast()
        #expect(throws: FeatureStoreError.self) { try writer.append(rows) }
    }
}
