import Foundation

/// ann-benchmarks' HDF5 layout (erikbern/ann-benchmarks): `train` float32 [N, D], `test`
/// float32 [Q, D], `neighbors` int32 [Q, K] (rows of `train`, nearest first), `distances`
/// float32 [Q, K] (cosine distance 1 - cos), root attributes `distance` = "angular",
/// `dimension` = D, `point_type` = "float".
public enum ANNBenchmarks {
    public struct Summary: Sendable {
        public var train: Int
        public var test: Int
        public var neighbors: Int
    }

    /// Exports the ok rows: every `n / testCount`-th one becomes a query in `test`, the rest
    /// form `train`; the exact `neighbors` top-K and their `distances` are computed here.
    public static func export(_ reader: FeatureStoreReader, to url: URL, testCount: Int, neighbors k: Int) throws -> Summary {
        let all = try NearestNeighbors(reader: reader)
        let n = all.count, d = all.dim
        guard testCount > 0, testCount < n else { throw FeatureStoreError.badQuery("test count \(testCount) must be in 1..<\(n) (the ok rows)") }
        let step = n / testCount
        let testPositions = (0..<testCount).map { $0 * step }
        let isTest = Set(testPositions)
        let trainPositions = (0..<n).filter { !isTest.contains($0) }
        let raw = try reader.embeddings(rows: 0..<reader.count)
        func rawRows(_ positions: [Int]) -> [Float] {
            var out = [Float](); out.reserveCapacity(positions.count * d)
            for p in positions { let r = all.row(at: p); out.append(contentsOf: raw[(r * d)..<((r + 1) * d)]) }
            return out
        }
        let train = rawRows(trainPositions), test = rawRows(testPositions)
        let index = try NearestNeighbors(embeddings: train, dim: d, rows: Array(0..<trainPositions.count),
                                         paths: Array(repeating: "", count: trainPositions.count),
                                         labels: Array(repeating: -1, count: trainPositions.count),
                                         norms: Array(repeating: 0, count: trainPositions.count))
        let kk = min(k, trainPositions.count)
        let results = try index.search(test, top: kk)
        var neighborRows = [Int32](), distances = [Float]()
        for result in results {
            neighborRows.append(contentsOf: result.map { Int32($0.row) })
            distances.append(contentsOf: result.map { 1 - $0.score })
        }

        let temporary = PartialFile.temporary(for: url)
        do {
            try writeFile(temporary, train: train, test: test, neighbors: neighborRows, distances: distances,
                          trainRows: trainPositions.count, testRows: testCount, k: kk, dim: d)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw FeatureStoreError.io(path: url.path, message: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        return Summary(train: trainPositions.count, test: testCount, neighbors: kk)
    }

    /// Writes the four datasets and the attributes, then closes the file.
    private static func writeFile(_ url: URL, train: [Float], test: [Float], neighbors: [Int32], distances: [Float], trainRows: Int, testRows: Int, k: Int, dim d: Int) throws(FeatureStoreError) {
        let file = try HDF5File.create(url.path)
        do {
            try write(file, "train", train, shape: [trainRows, d])
            try write(file, "test", test, shape: [testRows, d])
            try write(file, "neighbors", neighbors, shape: [testRows, k])
            try write(file, "distances", distances, shape: [testRows, k])
            try file.setAttribute("distance", "angular")
            try file.setAttribute("dimension", Int64(d))
            try file.setAttribute("point_type", "float")
            try file.close()
        } catch {
            file.discard()  // the caller deletes it; closing must not write to a failing disk
            throw error
        }
    }

    private static func write<T: HDF5Scalar>(_ file: HDF5File, _ name: String, _ values: [T], shape: [Int]) throws(FeatureStoreError) {
        let dataset = try file.createDataset(name, type: T.element.fileType, shape: shape, chunkRows: min(max(shape[0], 1), 1024), compress: false)
        try values.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try dataset.write(b, rows: 0, count: shape[0]) }
    }

    /// Reads an ann-benchmarks file's `train` (and `test`) matrices.
    public static func read(_ url: URL) throws(FeatureStoreError) -> (dim: Int, train: [Float], test: [Float], distance: String?) {
        let file = try HDF5File.open(url.path)
        let distance = try file.stringAttribute("distance")
        func matrix(_ name: String) throws(FeatureStoreError) -> (Int, [Float]) {
            let dataset = try file.dataset(name)
            guard try dataset.stores(.float32) else { throw .datasetType(path: url.path, name: name, expected: "floats") }
            let shape = try dataset.shape()
            guard shape.count == 2 else { throw .datasetType(path: url.path, name: name, expected: "a 2-D matrix") }
            return (shape[1], try dataset.read(Float.self, rows: 0, count: shape[0]))
        }
        let (dim, train) = try matrix("train")
        let test = file.exists("test") ? try matrix("test").1 : []
        return (dim, train, test, distance)
    }

    /// Imports `train` as a store (paths "train/<i>", label -1); `provenance.embeddingDim` is
    /// replaced by the file's dimension.
    @discardableResult
    public static func importStore(from url: URL, to store: URL, provenance: StoreProvenance, options: StoreWriteOptions = .init()) throws -> Int {
        let (dim, train, _, distance) = try read(url)
        if let distance, distance != "angular" {
            throw FeatureStoreError.parse(path: url.path, line: nil, message: "distance is \(distance.debugDescription); magfleet searches by cosine (\"angular\")")
        }
        let rows = train.count / dim
        var provenance = provenance
        provenance.embeddingDim = dim
        let writer = try FeatureStoreWriter(url: store, provenance: provenance, options: options)
        try writer.append(StoreRows(
            embeddings: train, paths: (0..<rows).map { "train/\($0)" },
            labels: Array(repeating: -1, count: rows), statuses: Array(repeating: .ok, count: rows)))
        try writer.finish()
        return rows
    }
}
