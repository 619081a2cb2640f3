import Foundation

/// Collects one finished shard's rows (in any order) and writes them as a shard file in one go.
///
/// The coordinator makes one per finished shard: `add`/`addFailure` each image's result under
/// its global index (its line number in the image list), then `finish()`. Nothing is on disk
/// until `finish()`, which sorts the rows by global index and writes the file atomically (see
/// `FeatureStoreWriter`): after a crash the shard is either complete or absent.
public final class ShardWriter {
    public let url: URL
    public let provenance: StoreProvenance
    /// The number of images in the whole run; every global index is in 0..<totalRows.
    public let totalRows: Int
    private let options: StoreWriteOptions
    private var indices: [Int64] = []
    private var paths: [String] = []
    private var labels: [Int64] = []
    private var statuses: [RowStatus] = []
    private var embeddings: [Float] = []
    private var seen: Set<Int64> = []

    public var count: Int { indices.count }

    public init(url: URL, provenance: StoreProvenance, totalRows: Int, options: StoreWriteOptions = .init()) {
        self.url = url
        self.provenance = provenance
        self.totalRows = totalRows
        self.options = options
    }

    /// Adds a successfully embedded image.
    ///
    /// - Parameters:
    ///   - index: the global row index (0..<totalRows).
    ///   - label: its label id, -1 for unlabeled or distractor.
    ///   - embedding: the raw network output, `provenance.embeddingDim` floats.
    /// - Throws: `FeatureStoreError.invalidRows` for a wrong length or a repeated index,
    ///   `.indexOutOfRange` for an index outside the run.
    public func add(index: Int, path: String, label: Int64, embedding: [Float]) throws(FeatureStoreError) {
        guard embedding.count == provenance.embeddingDim else {
            throw .invalidRows("\(path): embedding has \(embedding.count) values, dim is \(provenance.embeddingDim)")
        }
        try record(index: index, path: path, label: label, status: .ok)
        embeddings.append(contentsOf: embedding)
    }

    /// Adds an image that could not be embedded, with the reason (e.g. "decode: not a JPEG").
    public func addFailure(index: Int, path: String, label: Int64, reason: String) throws(FeatureStoreError) {
        try record(index: index, path: path, label: label, status: .failed(reason: reason))
        embeddings.append(contentsOf: repeatElement(0, count: provenance.embeddingDim))
    }

    private func record(index: Int, path: String, label: Int64, status: RowStatus) throws(FeatureStoreError) {
        guard index >= 0, index < totalRows else { throw .indexOutOfRange(path: url.path, index: Int64(index), total: Int64(totalRows)) }
        guard seen.insert(Int64(index)).inserted else { throw .invalidRows("global index \(index) added twice to shard \(url.lastPathComponent)") }
        indices.append(Int64(index))
        paths.append(path)
        labels.append(label)
        statuses.append(status)
    }

    /// Writes the shard file, rows sorted by global index, atomically.
    public func finish() throws(FeatureStoreError) {
        let order = indices.indices.sorted { indices[$0] < indices[$1] }
        let d = provenance.embeddingDim
        var rows = StoreRows()
        rows.embeddings.reserveCapacity(order.count * d)
        for i in order {
            rows.indices.append(indices[i])
            rows.paths.append(paths[i])
            rows.labels.append(labels[i])
            rows.statuses.append(statuses[i])
            rows.embeddings.append(contentsOf: embeddings[(i * d)..<((i + 1) * d)])
        }
        let writer = try FeatureStoreWriter(url: url, provenance: provenance, kind: .shard(totalRows: totalRows),
                                            options: options.sized(toRows: rows.count))
        try writer.append(rows)
        try writer.finish()
    }
}
