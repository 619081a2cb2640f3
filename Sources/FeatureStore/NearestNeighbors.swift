import Foundation
import Base

/// One search result.
public struct Neighbor: Equatable, Sendable, Codable {
    /// The row in the store.
    public var row: Int
    public var path: String
    public var label: Int64
    /// The label's name, nil for -1 or an id without a name.
    public var labelName: String?
    /// Cosine similarity with the query, in [-1, 1].
    public var score: Float
    /// The stored embedding's norm (MagFace's quality measure).
    public var norm: Float
}

/// Which rows a search may return.
public struct NeighborFilter: Sendable {
    /// Only rows whose embedding norm is at least this.
    public var minNorm: Float?
    /// Only rows with one of these label ids.
    public var labels: Set<Int64>?
    /// Leave these rows out (e.g. the query's own row).
    public var excludedRows: Set<Int>

    public init(minNorm: Float? = nil, labels: Set<Int64>? = nil, excludedRows: Set<Int> = []) {
        self.minNorm = minNorm
        self.labels = labels
        self.excludedRows = excludedRows
    }
}

/// Exact (brute-force) cosine nearest neighbours over a store's ok rows, held in memory as
/// unit vectors, `count x dim` float32. Queries are scored in batches with one `BLAS.sgemm`
/// per block of stored rows (a single query with `sgemv`); the top K is kept with a bounded min-heap per query.
public final class NearestNeighbors: Sendable {
    public let dim: Int
    /// Unit-length embeddings of the searchable rows, row-major.
    let unit: [Float]
    /// The store row of each searchable row.
    let rows: [Int]
    public let paths: [String]
    public let labels: [Int64]
    public let norms: [Float]
    public let labelNames: [String]
    private let rowOfPath: [String: Int]

    /// The number of searchable (ok) rows.
    public var count: Int { rows.count }

    /// Loads every ok row of `reader`, in chunks.
    public convenience init(reader: FeatureStoreReader) throws {
        let d = reader.dim
        let statuses = try reader.statuses()
        let allPaths = try reader.paths()
        let allLabels = try reader.labels()
        let allNorms = try reader.norms()
        var unit = [Float]()
        unit.reserveCapacity(reader.okCount * d)
        var rows: [Int] = []
        rows.reserveCapacity(reader.okCount)
        try reader.forEachEmbeddingChunk { range, chunk in
            for (offset, row) in range.enumerated() where statuses[row].isOK {
                rows.append(row)
                unit.append(contentsOf: chunk[(offset * d)..<((offset + 1) * d)])
            }
        }
        try self.init(
            embeddings: unit, dim: d, rows: rows,
            paths: rows.map { allPaths[$0] }, labels: rows.map { allLabels[$0] },
            norms: rows.map { allNorms[$0] }, labelNames: reader.labelNames)
    }

    /// Searches raw `embeddings` (`rows.count x dim`); `rows` are the store rows they came from.
    public init(embeddings: [Float], dim: Int, rows: [Int], paths: [String], labels: [Int64], norms: [Float], labelNames: [String] = []) throws(FeatureStoreError) {
        let n = rows.count
        guard dim > 0, embeddings.count == n * dim, paths.count == n, labels.count == n, norms.count == n else {
            throw .invalidRows("search index: \(n) rows, \(embeddings.count) values for dim \(dim), \(paths.count) paths, \(labels.count) labels, \(norms.count) norms")
        }
        var unit = embeddings
        Self.normalize(&unit, dim: dim)
        self.unit = unit
        self.dim = dim
        self.rows = rows
        self.paths = paths
        self.labels = labels
        self.norms = norms
        self.labelNames = labelNames
        var map: [String: Int] = [:]
        for (i, path) in paths.enumerated() where map[path] == nil { map[path] = i }
        rowOfPath = map
    }

    /// Scales each `dim`-long row to unit length (zero rows stay zero).
    static func normalize(_ vectors: inout [Float], dim: Int) {
        vectors.withUnsafeMutableBufferPointer { v in
            for i in 0..<(v.count / dim) {
                var sum: Float = 0
                for j in 0..<dim { sum += v[i * dim + j] * v[i * dim + j] }
                guard sum > 0 else { continue }
                let scale = 1 / sum.squareRoot()
                for j in 0..<dim { v[i * dim + j] *= scale }
            }
        }
    }

    /// The searchable position of the row stored under `path`, if it is ok.
    public func position(ofPath path: String) -> Int? { rowOfPath[path] }

    /// The searchable position of store row `row`, if it is ok.
    public func position(ofRow row: Int) -> Int? {
        var low = 0, high = rows.count
        while low < high {
            let mid = (low + high) / 2
            if rows[mid] < row { low = mid + 1 } else { high = mid }
        }
        return low < rows.count && rows[low] == row ? low : nil
    }

    /// The store row at searchable position `position`.
    public func row(at position: Int) -> Int { rows[position] }

    /// The unit embedding at searchable `position`.
    public func unitEmbedding(at position: Int) -> [Float] { Array(unit[(position * dim)..<((position + 1) * dim)]) }

    /// The `top` nearest rows by cosine similarity for each query, best first (ties by row).
    ///
    /// - Parameters:
    ///   - queries: `q x dim` float32, row-major, any norm.
    ///   - top: K.
    /// - Returns: q lists of at most `top` neighbours.
    public func search(_ queries: [Float], top: Int, filter: NeighborFilter = .init()) throws(FeatureStoreError) -> [[Neighbor]] {
        guard queries.count % dim == 0 else { throw .badQuery("query has \(queries.count) values, not a multiple of dim \(dim)") }
        let q = queries.count / dim, n = count
        guard top > 0, q > 0, n > 0 else { return Array(repeating: [], count: q) }
        var normalized = queries
        Self.normalize(&normalized, dim: dim)
        let allowed = allowedMask(filter)
        var heaps = (0..<q).map { _ in TopK(capacity: top) }
        // Score blocks of stored rows so that q x block floats stay near 16 MiB.
        let block = max(1024, min(n, (4 << 20) / q))
        var scores = [Float](repeating: 0, count: q * block)
        var start = 0
        while start < n {
            let width = min(block, n - start)
            normalized.withUnsafeBufferPointer { a in
                unit.withUnsafeBufferPointer { b in
                    scores.withUnsafeMutableBufferPointer { c in
                        if q == 1 {
                            // One query: sgemv streams the stored rows once; OpenBLAS 0.3.21's
                            // sgemm with m = 1 packs all of them first (twice the memory traffic).
                            BLAS.sgemv(m: width, n: dim, a: b.baseAddress! + start * dim, lda: dim,
                                       x: a.baseAddress!, y: c.baseAddress!)
                        } else {
                            BLAS.sgemm(transposeB: true, m: q, n: width, k: dim,
                                       a: a.baseAddress!, lda: dim, b: b.baseAddress! + start * dim, ldb: dim,
                                       c: c.baseAddress!, ldc: width)
                        }
                    }
                }
            }
            scores.withUnsafeBufferPointer { s in
                for i in 0..<q {
                    let base = i * width
                    if let allowed {
                        for j in 0..<width where allowed[start + j] { heaps[i].insert(s[base + j], start + j) }
                    } else {
                        for j in 0..<width { heaps[i].insert(s[base + j], start + j) }
                    }
                }
            }
            start += width
        }
        return heaps.map { heap in
            heap.sorted().map { score, position in
                let label = labels[position]
                let name = label >= 0 && Int(label) < labelNames.count ? labelNames[Int(label)] : nil
                return Neighbor(row: rows[position], path: paths[position], label: label, labelName: name, score: score, norm: norms[position])
            }
        }
    }

    private func allowedMask(_ filter: NeighborFilter) -> [Bool]? {
        if filter.minNorm == nil, filter.labels == nil, filter.excludedRows.isEmpty { return nil }
        return (0..<count).map { i in
            if let minNorm = filter.minNorm, norms[i] < minNorm { return false }
            if let labels = filter.labels, !labels.contains(self.labels[i]) { return false }
            return !filter.excludedRows.contains(rows[i])
        }
    }
}

/// The K largest (score, position) pairs seen, as a min-heap on (score, -position).
struct TopK {
    let capacity: Int
    private var scores: [Float] = []
    private var positions: [Int] = []

    init(capacity: Int) {
        self.capacity = capacity
        scores.reserveCapacity(capacity)
        positions.reserveCapacity(capacity)
    }

    /// Whether (a, pa) ranks below (b, pb): lower score, or equal score and later position.
    @inline(__always) private static func below(_ a: Float, _ pa: Int, _ b: Float, _ pb: Int) -> Bool {
        a < b || (a == b && pa > pb)
    }

    @inline(__always) mutating func insert(_ score: Float, _ position: Int) {
        if scores.count < capacity {
            scores.append(score)
            positions.append(position)
            var i = scores.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.below(scores[i], positions[i], scores[parent], positions[parent]) else { break }
                scores.swapAt(i, parent)
                positions.swapAt(i, parent)
                i = parent
            }
            return
        }
        guard Self.below(scores[0], positions[0], score, position) else { return }
        scores[0] = score
        positions[0] = position
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < scores.count, Self.below(scores[l], positions[l], scores[smallest], positions[smallest]) { smallest = l }
            if r < scores.count, Self.below(scores[r], positions[r], scores[smallest], positions[smallest]) { smallest = r }
            if smallest == i { break }
            scores.swapAt(i, smallest)
            positions.swapAt(i, smallest)
            i = smallest
        }
    }

    /// Best first: higher score, then earlier position.
    func sorted() -> [(Float, Int)] {
        zip(scores, positions).sorted { Self.below($1.0, $1.1, $0.0, $0.1) }
    }
}
