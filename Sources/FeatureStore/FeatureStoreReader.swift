import Foundation

/// Reads a complete store or shard file, checking on open that it is a magfleet file of a
/// supported version, that its writer finished it, and that its datasets agree in length.
///
/// Not Sendable: the HDF5 library is not thread-safe; use one reader per thread at a time.
public final class FeatureStoreReader {
    public let url: URL
    public let kind: StoreKind
    public let provenance: StoreProvenance
    /// Rows in the file (ok and failed).
    public let count: Int
    public let okCount: Int
    public let failedCount: Int
    public var dim: Int { provenance.embeddingDim }
    /// The chunk shape of /embeddings, when chunked.
    public let embeddingChunkRows: Int?

    private let file: HDF5File
    private let embeddingsDataset: HDF5Dataset

    /// Opens `url`.
    ///
    /// - Throws: `FeatureStoreError.missingFile`, `.notHDF5`, `.unreadable` (truncated),
    ///   `.notAStore` (a foreign HDF5 file), `.unsupportedVersion`, `.incomplete`,
    ///   `.inconsistent`, or `.wrongKind` when `expecting` is given and differs.
    public init(url: URL, expecting: String? = nil) throws(FeatureStoreError) {
        self.url = url
        let path = url.path
        let handle = try HDF5File.open(path)
        file = handle
        typealias A = StoreFormat.Attribute
        kind = try Self.checkHeader(handle, expecting: expecting)
        let string = { (name: String) throws(FeatureStoreError) in try Self.string(name, of: handle) }
        let integer = { (name: String) throws(FeatureStoreError) in try Self.integer(name, of: handle) }

        // The list's hash and label names are the store's; a shard records them only if an
        // older magfleet wrote it (docs/feature-store.md, "Shard files").
        let isShard = kind != .store
        var labelNames: [String] = []
        if !isShard || handle.exists(StoreFormat.Dataset.labelNames) {
            let names = try handle.dataset(StoreFormat.Dataset.labelNames)
            labelNames = try names.readStrings(rows: 0, count: try names.shape().first ?? 0)
        }
        let listSHA256 = isShard ? try handle.stringAttribute(A.imageListSHA256) ?? "" : try string(A.imageListSHA256)
        provenance = StoreProvenance(
            modelFingerprint: try string(A.fingerprint), architecture: try string(A.architecture),
            embeddingDim: Int(try integer(A.dim)), preprocessingPreset: try string(A.preset),
            flip: try integer(A.flip) != 0, imageListSHA256: listSHA256,
            toolVersion: try string(A.toolVersion), createdAt: try string(A.createdAt),
            randomWeights: try integer(A.randomWeights) != 0,
            labelNames: labelNames)
        count = Int(try integer(A.count))
        okCount = Int(try integer(A.okCount))
        failedCount = Int(try integer(A.failedCount))

        embeddingsDataset = try Self.checkShapes(handle, kind: kind, count: count, okCount: okCount, failedCount: failedCount,
                                                 dim: provenance.embeddingDim)
        embeddingChunkRows = try embeddingsDataset.chunkShape()?.first
    }

    /// Checks what every magfleet file passes first, in order: the marker, the version, the
    /// completeness mark, the kind (and that it is `expecting`, when given). Returns the kind.
    static func checkHeader(_ file: HDF5File, expecting: String?) throws(FeatureStoreError) -> StoreKind {
        typealias A = StoreFormat.Attribute
        let path = file.path
        guard let marker = try file.stringAttribute(A.format) else {
            throw .notAStore(path: path, reason: "the root has no '\(A.format)' attribute (made by another tool?)")
        }
        guard marker == StoreFormat.marker else {
            throw .notAStore(path: path, reason: "'\(A.format)' is \(marker.debugDescription), expected \(StoreFormat.marker.debugDescription)")
        }
        guard let version = try file.integerAttribute(A.version) else {
            throw .notAStore(path: path, reason: "no '\(A.version)' attribute")
        }
        guard version == StoreFormat.version else {
            throw .unsupportedVersion(path: path, found: version, supported: StoreFormat.version)
        }
        guard try file.integerAttribute(A.complete) == 1 else { throw .incomplete(path: path) }
        let kindName = try string(A.kind, of: file)
        let kind: StoreKind
        switch kindName {
        case "store": kind = .store
        case "shard": kind = .shard(totalRows: Int(try integer(A.totalRows, of: file)))
        default: throw .inconsistent(path: path, detail: "unknown kind \(kindName.debugDescription)")
        }
        if let expecting, expecting != kindName { throw .wrongKind(path: path, expected: expecting, found: kindName) }
        return kind
    }

    /// Checks that every dataset has the rows the counts say (/embeddings [count, dim] float32)
    /// and that the counts add up. Returns /embeddings.
    static func checkShapes(_ file: HDF5File, kind: StoreKind, count: Int, okCount: Int, failedCount: Int, dim: Int) throws(FeatureStoreError) -> HDF5Dataset {
        let path = file.path
        let embeddings = try file.dataset(StoreFormat.Dataset.embeddings)
        guard try embeddings.stores(.float32) else { throw .datasetType(path: path, name: StoreFormat.Dataset.embeddings, expected: "float32") }
        let shape = try embeddings.shape()
        guard shape == [count, dim] else {
            throw .inconsistent(path: path, detail: "/embeddings is \(shape), attributes say [\(count), \(dim)]")
        }
        var oneD = [StoreFormat.Dataset.norms, StoreFormat.Dataset.paths, StoreFormat.Dataset.labels,
                    StoreFormat.Dataset.status, StoreFormat.Dataset.failureReasons]
        if case .shard = kind { oneD.append(StoreFormat.Dataset.indices) }
        for name in oneD {
            let rows = try file.dataset(name).shape()
            guard rows == [count] else { throw .inconsistent(path: path, detail: "/\(name) is \(rows), expected [\(count)]") }
        }
        guard okCount + failedCount == count else {
            throw .inconsistent(path: path, detail: "ok_count \(okCount) + failed_count \(failedCount) != count \(count)")
        }
        return embeddings
    }

    static func string(_ name: String, of file: HDF5File) throws(FeatureStoreError) -> String {
        guard let value = try file.stringAttribute(name) else { throw .inconsistent(path: file.path, detail: "attribute \(name) is missing") }
        return value
    }

    static func integer(_ name: String, of file: HDF5File) throws(FeatureStoreError) -> Int64 {
        guard let value = try file.integerAttribute(name) else { throw .inconsistent(path: file.path, detail: "attribute \(name) is missing") }
        return value
    }

    private func checkRange(_ rows: Range<Int>) throws(FeatureStoreError) {
        guard rows.lowerBound >= 0, rows.upperBound <= count else {
            throw .rowRange(path: url.path, dataset: "rows", start: rows.lowerBound, count: rows.count, rows: count)
        }
    }

    /// Embeddings of `rows`, `rows.count x dim` float32, row-major.
    public func embeddings(rows: Range<Int>) throws(FeatureStoreError) -> [Float] {
        try checkRange(rows)
        return try embeddingsDataset.read(Float.self, rows: rows.lowerBound, count: rows.count)
    }

    /// Reads embeddings of `rows` directly into `buffer` (at least `rows.count * dim` floats).
    public func readEmbeddings(rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<Float>) throws(FeatureStoreError) {
        try checkRange(rows)
        try embeddingsDataset.read(into: buffer, rows: rows.lowerBound, count: rows.count)
    }

    /// All embeddings for scanning, with no copy where HDF5 allows: /embeddings mapped from the
    /// file when it is contiguous or in uncompressed chunks (Fletcher-32 is not checked on
    /// mapped rows: the merge verified them), else read once into one buffer.
    public func storedEmbeddings() throws(FeatureStoreError) -> StoredEmbeddings {
        if let layout = try embeddingsDataset.rawLayout() {
            return try StoredEmbeddings(mapping: url.path, layout: layout, count: count, dim: dim)
        }
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, count * dim))
        do {
            if count > 0 { try embeddingsDataset.read(into: buffer, rows: 0, count: count) }
        } catch {
            buffer.deallocate()
            throw error
        }
        return StoredEmbeddings(owning: buffer, count: count, dim: dim)
    }

    /// Calls `body` with consecutive chunks of embeddings (`chunk.count x dim` each), holding
    /// one chunk in memory at a time.
    public func forEachEmbeddingChunk(
        rows: Range<Int>? = nil, chunkRows: Int = 8192,
        _ body: (Range<Int>, UnsafeBufferPointer<Float>) throws -> Void
    ) throws {
        let all = rows ?? 0..<count
        try checkRange(all)
        let step = max(1, chunkRows)
        var buffer = [Float](repeating: 0, count: min(step, all.count) * dim)
        var start = all.lowerBound
        while start < all.upperBound {
            let end = min(start + step, all.upperBound)
            try buffer.withUnsafeMutableBufferPointer { b in
                let slice = UnsafeMutableBufferPointer(rebasing: b[0..<((end - start) * dim)])
                try embeddingsDataset.read(into: slice, rows: start, count: end - start)
                try body(start..<end, UnsafeBufferPointer(slice))
            }
            start = end
        }
    }

    public func norms(rows: Range<Int>? = nil) throws(FeatureStoreError) -> [Float] {
        let r = rows ?? 0..<count
        try checkRange(r)
        return try file.dataset(StoreFormat.Dataset.norms).read(Float.self, rows: r.lowerBound, count: r.count)
    }

    public func paths(rows: Range<Int>? = nil) throws(FeatureStoreError) -> [String] {
        let r = rows ?? 0..<count
        try checkRange(r)
        return try file.dataset(StoreFormat.Dataset.paths).readStrings(rows: r.lowerBound, count: r.count)
    }

    /// Label ids (-1 = unlabeled or distractor); names are `provenance.labelNames`.
    public func labels(rows: Range<Int>? = nil) throws(FeatureStoreError) -> [Int64] {
        let r = rows ?? 0..<count
        try checkRange(r)
        return try file.dataset(StoreFormat.Dataset.labels).read(Int64.self, rows: r.lowerBound, count: r.count)
    }

    public var labelNames: [String] { provenance.labelNames }

    /// Each row's status, with the failure reason of failed rows.
    public func statuses(rows: Range<Int>? = nil) throws(FeatureStoreError) -> [RowStatus] {
        let r = rows ?? 0..<count
        try checkRange(r)
        let codes = try file.dataset(StoreFormat.Dataset.status).read(UInt8.self, rows: r.lowerBound, count: r.count)
        let reasons = try file.dataset(StoreFormat.Dataset.failureReasons).readStrings(rows: r.lowerBound, count: r.count)
        return zip(codes, reasons).map { code, reason in code == StoreFormat.statusOK ? .ok : .failed(reason: reason) }
    }

    /// The status codes only (0 ok, 1 failed).
    func statusCodes(rows: Range<Int>) throws(FeatureStoreError) -> [UInt8] {
        try file.dataset(StoreFormat.Dataset.status).read(UInt8.self, rows: rows.lowerBound, count: rows.count)
    }

    func failureReasons(rows: Range<Int>) throws(FeatureStoreError) -> [String] {
        try file.dataset(StoreFormat.Dataset.failureReasons).readStrings(rows: rows.lowerBound, count: rows.count)
    }

    /// A shard's global row indices; a store's rows are their own indices.
    public func indices(rows: Range<Int>? = nil) throws(FeatureStoreError) -> [Int64] {
        let r = rows ?? 0..<count
        try checkRange(r)
        guard case .shard = kind else { return r.map { Int64($0) } }
        return try file.dataset(StoreFormat.Dataset.indices).read(Int64.self, rows: r.lowerBound, count: r.count)
    }
}
