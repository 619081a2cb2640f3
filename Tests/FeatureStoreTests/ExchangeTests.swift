import FeatureStore
import Foundation
import Testing

@Suite struct ExchangeTests {
    @Test func featuresListRoundTripIsBitExact() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rows = randomRows(30, dim: 12, seed: 30)
        rows.paths = (0..<30).map { "lfw/person_\($0 % 4)/img_\($0).jpg" }
        let store = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: 12, to: store)
        let list = dir.appendingPathComponent("features.list")
        #expect(try FeaturesList.export(try FeatureStoreReader(url: store), to: list) == 24)
        // gen_feat.py's shape: "PATH v1 ... vD \n".
        let firstLine = try String(contentsOf: list, encoding: .utf8).split(separator: "\n")[0]
        #expect(firstLine.hasPrefix("lfw/person_0/img_0.jpg ") && firstLine.hasSuffix(" "))
        #expect(firstLine.split(separator: " ").count == 13)

        let back = dir.appendingPathComponent("back.h5")
        // Labels by folder, numbered as the caller's table numbers them (here: person_N is N).
        var labelled = provenance(dim: 0, labels: [])
        labelled.labelNames = (0..<4).map { "person_\($0)" }
        #expect(try FeaturesList.importStore(from: list, to: back, provenance: labelled, label: { path in
            Int64(path.split(separator: "/")[1].dropFirst("person_".count))!
        }) == 24)
        let reader = try FeatureStoreReader(url: back)
        let ok = (0..<30).filter { rows.statuses[$0].isOK }
        #expect(try reader.paths() == ok.map { rows.paths[$0] })
        #expect(try reader.embeddings(rows: 0..<24) == ok.flatMap { rows.embeddings[($0 * 12)..<(($0 + 1) * 12)] })
        #expect(reader.labelNames == ["person_0", "person_1", "person_2", "person_3"])
        #expect(try reader.labels() == ok.map { Int64($0 % 4) })
        #expect(reader.dim == 12)
    }

    @Test func featuresListErrorsNameTheLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("bad.list")
        try Data("a.jpg 1 2 3 \nb.jpg 1 2 \n".utf8).write(to: list)
        #expect(throws: FeatureStoreError.parse(path: list.path, line: 2, message: "2 values, the first line has 3")) {
            try FeaturesList.importStore(from: list, to: dir.appendingPathComponent("s.h5"), provenance: provenance(dim: 0))
        }
        try Data("a.jpg 1 x 3\n".utf8).write(to: list)
        #expect(throws: FeatureStoreError.self) {
            try FeaturesList.importStore(from: list, to: dir.appendingPathComponent("s.h5"), provenance: provenance(dim: 0))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("s.h5").path))
    }

    @Test func npyRoundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rows = randomRows(21, dim: 5, seed: 31)
        let store = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: 5, to: store)
        let npy = dir.appendingPathComponent("e.npy")
        try NumpyArray.export(try FeatureStoreReader(url: store), to: npy)
        let matrix = try NumpyArray.read(npy)
        #expect(matrix.rows == 21 && matrix.columns == 5)
        #expect(matrix.values == rows.embeddings)  // failed rows are zeros in both
        let back = dir.appendingPathComponent("back.h5")
        try NumpyArray.importStore(from: npy, paths: rows.paths, to: back, provenance: provenance(dim: 0))
        let reader = try FeatureStoreReader(url: back)
        #expect(try reader.embeddings(rows: 0..<21) == rows.embeddings)
        #expect(try reader.paths() == rows.paths)
        let truncated = dir.appendingPathComponent("t.npy")
        try (try Data(contentsOf: npy)).prefix(200).write(to: truncated)
        #expect(throws: FeatureStoreError.self) { try NumpyArray.read(truncated) }
    }

    @Test func annBenchmarksRoundTripAndForeignFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = try NumpyArray.read(try fixture("search_base.npy"))
        let rows = StoreRows(embeddings: base.values, paths: (0..<300).map { "p\($0)" },
                             labels: Array(repeating: -1, count: 300), statuses: Array(repeating: .ok, count: 300))
        let store = dir.appendingPathComponent("s.h5")
        try writeStore(rows, dim: 32, to: store)
        let ann = dir.appendingPathComponent("ann.hdf5")
        let summary = try ANNBenchmarks.export(try FeatureStoreReader(url: store), to: ann, testCount: 10, neighbors: 7)
        #expect(summary.train == 290 && summary.test == 10 && summary.neighbors == 7)
        let read = try ANNBenchmarks.read(ann)
        #expect(read.distance == "angular" && read.dim == 32)
        var expectedTest: [Float] = []
        for q in 0..<10 {
            let row = q * 30  // every 300/10-th row is a test query
            expectedTest += base.values[(row * 32)..<((row + 1) * 32)]
        }
        #expect(read.test == expectedTest)
        let back = dir.appendingPathComponent("back.h5")
        #expect(try ANNBenchmarks.importStore(from: ann, to: back, provenance: provenance(dim: 0, labels: [])) == 290)
        #expect(try FeatureStoreReader(url: back).embeddings(rows: 0..<290) == read.train)

        // A file ann-benchmarks' own code layout made with h5py.
        let foreign = try ANNBenchmarks.read(try fixture("ann.hdf5"))
        #expect(foreign.dim == 16 && foreign.train.count == 40 * 16 && foreign.test.count == 4 * 16)
    }
}
