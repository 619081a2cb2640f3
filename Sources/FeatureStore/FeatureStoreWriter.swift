import Base
import Foundation

/// A batch of rows, in the order they are written.
public struct StoreRows: Sendable {
    /// `count x dim` float32, row-major: the raw network outputs. Ignored (stored as zeros)
    /// for failed rows.
    public var embeddings: [Float]
    public var paths: [String]
    /// Label ids; -1 is unlabeled or a distractor.
    public var labels: [Int64]
    public var statuses: [RowStatus]
    /// Each row's global index in the run; shards only (empty for a whole store).
    public var indices: [Int64]

    public var count: Int { paths.count }

    public init(embeddings: [Float] = [], paths: [String] = [], labels: [Int64] = [], statuses: [RowStatus] = [], indices: [Int64] = []) {
        self.embeddings = embeddings
        self.paths = paths
        self.labels = labels
        self.statuses = statuses
        self.indices = indices
    }
}

/// How a writer lays out its datasets.
public struct StoreWriteOptions: Sendable {
    /// Rows per HDF5 chunk of /embeddings.
    public var chunkRows: Int
    /// Rows per HDF5 chunk of the one-value-per-row datasets (norms, paths, labels...).
    public var sideChunkRows: Int
    /// Adds the shuffle and deflate filters (smaller files, slower reads).
    public var compress: Bool

    /// - Parameter sideChunkRows: defaults to 16 x `chunkRows`.
    public init(chunkRows: Int = 256, sideChunkRows: Int? = nil, compress: Bool = false) {
        self.chunkRows = chunkRows
        self.sideChunkRows = sideChunkRows ?? chunkRows * 16
        self.compress = compress
    }

    /// A file that will hold `rows` rows in all (a shard): no chunk larger than the file, so a
    /// small shard allocates no more than its rows.
    public func sized(toRows rows: Int) -> StoreWriteOptions {
        var sized = self
        sized.chunkRows = max(1, min(chunkRows, rows))
        sized.sideChunkRows = max(1, min(sideChunkRows, rows))
        return sized
    }
}

/// Writes a whole store (or a shard) row batch by row batch, never holding more than a batch.
///
/// The file is written under a hidden temporary name in the destination directory
/// (`.NAME.partial-PID-UUID`) and only `finish()` marks it complete, flushes, fsyncs and renames
/// it to its final name: a reader finds either a complete file or none. A writer dropped
/// without `finish()` (an error, a full disk) discards its temporary file without writing
/// anything more and deletes it. Errors name the final file, not the temporary one.
public final class FeatureStoreWriter {
    public let url: URL
    public let provenance: StoreProvenance
    public let kind: StoreKind
    public private(set) var rowCount = 0
    public private(set) var okCount = 0
    private let temporaryURL: URL
    private var file: HDF5File?
    private var embeddings, norms, paths, labels, status, reasons: HDF5Dataset?
    private var indices: HDF5Dataset?
    private var finished = false

    /// Creates the temporary file and its datasets.
    ///
    /// - Throws: `FeatureStoreError` when the directory is not writable or HDF5 fails.
    public init(url: URL, provenance: StoreProvenance, kind: StoreKind = .store, options: StoreWriteOptions = .init()) throws(FeatureStoreError) {
        guard provenance.embeddingDim > 0 else { throw .invalidRows("embedding dim must be positive, got \(provenance.embeddingDim)") }
        self.url = url
        self.provenance = provenance
        self.kind = kind
        temporaryURL = PartialFile.temporary(for: url)
        try naming { () throws(FeatureStoreError) in try create(options) }
    }

    private func create(_ options: StoreWriteOptions) throws(FeatureStoreError) {
        let file = try HDF5File.create(temporaryURL.path)
        self.file = file
        let d = provenance.embeddingDim
        let rows1D = options.sideChunkRows
        embeddings = try file.createDataset(StoreFormat.Dataset.embeddings, type: HDF5Element.float32.fileType, shape: [0, d], chunkRows: options.chunkRows, compress: options.compress)
        norms = try file.createDataset(StoreFormat.Dataset.norms, type: HDF5Element.float32.fileType, shape: [0], chunkRows: rows1D, compress: options.compress)
        let stringType = try HDF5Type.utf8String(path: file.path)
        paths = try file.createDataset(StoreFormat.Dataset.paths, type: stringType.id, shape: [0], chunkRows: rows1D, compress: options.compress)
        labels = try file.createDataset(StoreFormat.Dataset.labels, type: HDF5Element.int64.fileType, shape: [0], chunkRows: rows1D, compress: options.compress)
        status = try file.createDataset(StoreFormat.Dataset.status, type: HDF5Element.uint8.fileType, shape: [0], chunkRows: rows1D, compress: options.compress)
        reasons = try file.createDataset(StoreFormat.Dataset.failureReasons, type: stringType.id, shape: [0], chunkRows: rows1D, compress: options.compress)
        if case .shard = kind {
            indices = try file.createDataset(StoreFormat.Dataset.indices, type: HDF5Element.int64.fileType, shape: [0], chunkRows: rows1D, compress: options.compress)
        }
        if kind == .store {
            // Written once, in the store: a shard's labels are numbered by its run's list, whose
            // names are in the run directory (docs/feature-store.md, "Shard files").
            let names = try file.createDataset(StoreFormat.Dataset.labelNames, type: stringType.id, shape: [provenance.labelNames.count], chunkRows: max(1, min(provenance.labelNames.count, 4096)), compress: false)
            try names.writeStrings(provenance.labelNames, rows: 0)
        }
        try writeProvenance(file)
    }

    deinit {
        if !finished {
            dropDatasets()
            file = nil  // discarded: nothing more reaches the disk (HDF5File)
            try? FileManager.default.removeItem(at: temporaryURL)
        }
    }

    /// Runs `body`, naming the final file in its errors instead of the temporary one.
    private func naming<T>(_ body: () throws(FeatureStoreError) -> T) throws(FeatureStoreError) -> T {
        do { return try body() } catch {
            let temporary = temporaryURL.path
            switch error {
            case let .hdf5(function, path, stack) where path == temporary: throw .hdf5(function: function, path: url.path, stack: stack)
            case let .noSpace(path) where path == temporary: throw .noSpace(path: url.path)
            case let .io(path, message) where path == temporary: throw .io(path: url.path, message: message)
            default: throw error
            }
        }
    }

    private func dropDatasets() {
        embeddings = nil; norms = nil; paths = nil; labels = nil; status = nil; reasons = nil; indices = nil
    }

    private func writeProvenance(_ file: HDF5File) throws(FeatureStoreError) {
        typealias A = StoreFormat.Attribute
        try file.setAttribute(A.format, StoreFormat.marker)
        try file.setAttribute(A.version, StoreFormat.version)
        try file.setAttribute(A.kind, kind.attribute)
        try file.setAttribute(A.complete, Int64(0))
        try file.setAttribute(A.fingerprint, provenance.modelFingerprint)
        try file.setAttribute(A.architecture, provenance.architecture)
        try file.setAttribute(A.dim, Int64(provenance.embeddingDim))
        try file.setAttribute(A.preset, provenance.preprocessingPreset)
        try file.setAttribute(A.flip, Int64(provenance.flip ? 1 : 0))
        if kind == .store { try file.setAttribute(A.imageListSHA256, provenance.imageListSHA256) }
        try file.setAttribute(A.toolVersion, provenance.toolVersion)
        try file.setAttribute(A.createdAt, provenance.createdAt)
        try file.setAttribute(A.randomWeights, Int64(provenance.randomWeights ? 1 : 0))
        if case let .shard(totalRows) = kind { try file.setAttribute(A.totalRows, Int64(totalRows)) }
    }

    /// Appends `rows` after the rows written so far.
    ///
    /// - Throws: `FeatureStoreError.invalidRows` when the arrays disagree in length, a label is
    ///   below -1 or past /label_names, or a shard row lacks its global index.
    public func append(_ rows: StoreRows) throws(FeatureStoreError) {
        precondition(!finished, "append after finish")
        let n = rows.count, d = provenance.embeddingDim
        if n == 0 { return }
        guard rows.embeddings.count == n * d else { throw .invalidRows("\(n) rows need \(n * d) embedding values (dim \(d)), got \(rows.embeddings.count)") }
        guard rows.labels.count == n, rows.statuses.count == n else { throw .invalidRows("\(n) paths but \(rows.labels.count) labels and \(rows.statuses.count) statuses") }
        let labelLimit = Int64(provenance.labelNames.count)
        if let bad = rows.labels.first(where: { $0 < -1 || (labelLimit > 0 && $0 >= labelLimit) }) {
            throw .invalidRows("label \(bad) is outside -1..<\(labelLimit)")
        }
        if case let .shard(total) = kind {
            guard rows.indices.count == n else { throw .invalidRows("a shard needs a global index per row: \(n) rows, \(rows.indices.count) indices") }
            if let bad = rows.indices.first(where: { $0 < 0 || $0 >= Int64(total) }) {
                throw .indexOutOfRange(path: url.path, index: bad, total: Int64(total))
            }
        }
        var rowNorms = [Float](repeating: 0, count: n)
        var codes = [UInt8](repeating: StoreFormat.statusOK, count: n)
        var reasonText = [String](repeating: "", count: n)
        var failedRows: [Int] = []
        rows.embeddings.withUnsafeBufferPointer { v in
            for i in 0..<n {
                if case let .failed(reason) = rows.statuses[i] {
                    codes[i] = StoreFormat.statusFailed
                    reasonText[i] = reason
                    if v[(i * d)..<((i + 1) * d)].contains(where: { $0 != 0 }) { failedRows.append(i) }
                } else {
                    var sum: Float = 0
                    for j in 0..<d { sum += v[i * d + j] * v[i * d + j] }
                    rowNorms[i] = sum.squareRoot()
                }
            }
        }
        // Failed rows are stored as zeros; the caller's rows are copied only when one is not.
        var vectors = rows.embeddings
        for i in failedRows { vectors.replaceSubrange((i * d)..<((i + 1) * d), with: repeatElement(0, count: d)) }
        let start = rowCount, end = rowCount + n
        try naming { () throws(FeatureStoreError) in
            for dataset in [embeddings, norms, paths, labels, status, reasons, indices].compactMap({ $0 }) {
                try dataset.extend(toRows: end)
            }
            try vectors.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try embeddings!.write(b, rows: start, count: n) }
            try rowNorms.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try norms!.write(b, rows: start, count: n) }
            try rows.labels.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try labels!.write(b, rows: start, count: n) }
            try codes.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try status!.write(b, rows: start, count: n) }
            try paths!.writeStrings(rows.paths, rows: start)
            try reasons!.writeStrings(reasonText, rows: start)
            if let indices {
                try rows.indices.withUnsafeBufferPointer { (b) throws(FeatureStoreError) in try indices.write(b, rows: start, count: n) }
            }
        }
        rowCount = end
        okCount += codes.lazy.filter { $0 == StoreFormat.statusOK }.count
    }

    /// Records the counts, marks the file complete, flushes and fsyncs it, and renames it to
    /// `url` (replacing any file there).
    public func finish() throws(FeatureStoreError) {
        precondition(!finished, "finish called twice")
        guard let file else { preconditionFailure("writer already closed") }
        typealias A = StoreFormat.Attribute
        try naming { () throws(FeatureStoreError) in
            try file.setAttribute(A.count, Int64(rowCount))
            try file.setAttribute(A.okCount, Int64(okCount))
            try file.setAttribute(A.failedCount, Int64(rowCount - okCount))
            try file.setAttribute(A.complete, Int64(1))
            dropDatasets()  // the file holds them until it closes
            try file.close()
            self.file = nil
            try Self.fsync(temporaryURL.path, directory: false)
        }
        guard rename(temporaryURL.path, url.path) == 0 else {
            let message = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporaryURL)
            throw .io(path: url.path, message: "cannot rename \(temporaryURL.lastPathComponent) into place: \(message)")
        }
        finished = true
        try Self.fsync(url.deletingLastPathComponent().path, directory: true)
    }

    static func fsync(_ path: String, directory: Bool) throws(FeatureStoreError) {
        do { try FileSync.sync(path: path, directory: directory) } catch { throw .io(path: path, message: "\(error)") }
    }
}
