import Foundation
import SearchAVX2
import Base
import Synchronization

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
public struct NeighborFilter: Sendable, Hashable {
    /// Only rows whose embedding norm is at least this.
    public var minNorm: Float?
    /// Only rows with one of these label ids.
    public var labels: Set<Int64>?
    /// Leave these rows out of every query's results (a query's own row: `search(_:top:filter:excluding:)`).
    public var excludedRows: Set<Int>

    public init(minNorm: Float? = nil, labels: Set<Int64>? = nil, excludedRows: Set<Int> = []) {
        self.minNorm = minNorm
        self.labels = labels
        self.excludedRows = excludedRows
    }

    var isEmpty: Bool { minNorm == nil && labels == nil && excludedRows.isEmpty }
}

/// Exact (brute-force) cosine nearest neighbours over a store's ok rows.
///
/// The embeddings are scanned where they lie (`StoredEmbeddings`: mapped from the file, no
/// copy), `count x dim` float32 with their stored norms; a score is `dot(q / |q|, e) / |e|`.
/// The rows are cut into pieces scanned on one thread per core (OpenBLAS held single-threaded
/// inside), one pass of `dots` per piece for a single query, one `sgemm` for a batch; each thread keeps
/// a bounded min-heap per query, and the heaps are merged at the end. Ties go to the lower row,
/// so the result does not depend on how the rows were cut.
public final class NearestNeighbors: Sendable {
    public let dim: Int
    let embeddings: StoredEmbeddings
    /// 1 / |e| per store row; 0 for a zero row.
    let inverseNorms: [Float]
    /// Per store row: whether it is ok (searchable); nil when every row is.
    let okRows: [Bool]?
    /// The store row of each searchable position (ok rows, ascending).
    let rows: [Int]
    let rowPaths: [String]
    let rowLabels: [Int64]
    let rowNorms: [Float]
    public let labelNames: [String]
    private let rowOfPath = Mutex<[String: Int]?>(nil)

    /// The number of searchable (ok) rows.
    public var count: Int { rows.count }
    /// Store rows in all (ok and failed).
    public var storeRows: Int { embeddings.count }
    /// Whether the embeddings are mapped from the file rather than read into memory.
    public var isMapped: Bool { embeddings.isMapped }

    /// Opens every row of `reader` for search: the embeddings mapped (`storedEmbeddings()`),
    /// the norms, labels, statuses and paths read.
    public convenience init(reader: FeatureStoreReader) throws {
        let codes = try reader.statusCodes(rows: 0..<reader.count)
        try self.init(embeddings: try reader.storedEmbeddings(), norms: try reader.norms(), labels: try reader.labels(),
                      paths: try reader.paths(), ok: codes.map { $0 == StoreFormat.statusOK }, labelNames: reader.labelNames)
    }

    /// Searches raw `embeddings` (`rows.count x dim`); `rows` are the store rows they came from.
    /// `norms` are reported with the results; the scores use the vectors' own lengths.
    public convenience init(embeddings: [Float], dim: Int, rows: [Int], paths: [String], labels: [Int64], norms: [Float], labelNames: [String] = []) throws(FeatureStoreError) {
        let n = rows.count
        guard dim > 0, embeddings.count == n * dim, paths.count == n, labels.count == n, norms.count == n else {
            throw .invalidRows("search index: \(n) rows, \(embeddings.count) values for dim \(dim), \(paths.count) paths, \(labels.count) labels, \(norms.count) norms")
        }
        guard zip(rows, rows.dropFirst()).allSatisfy({ $0 < $1 }) else { throw .invalidRows("search index: rows must ascend") }
        let stored = StoredEmbeddings(copying: embeddings, dim: dim)
        let lengths = (0..<n).map { i in
            let v = stored.row(i)
            var sum: Float = 0
            for j in 0..<dim { sum += v[j] * v[j] }
            return sum.squareRoot()
        }
        try self.init(embeddings: stored, norms: lengths, labels: labels, paths: paths, ok: nil, labelNames: labelNames,
                      rowNumbers: rows, reportedNorms: norms)
    }

    /// `norms` are the rows' lengths (the scan divides by them); `ok` marks searchable rows (nil:
    /// all); `rowNumbers` renames positions (the default: store rows are positions).
    init(embeddings: StoredEmbeddings, norms: [Float], labels: [Int64], paths: [String], ok: [Bool]?, labelNames: [String],
         rowNumbers: [Int]? = nil, reportedNorms: [Float]? = nil) throws(FeatureStoreError) {
        let n = embeddings.count
        guard norms.count == n, labels.count == n, paths.count == n, ok.map({ $0.count == n }) ?? true else {
            throw .invalidRows("search index: \(n) rows, \(norms.count) norms, \(labels.count) labels, \(paths.count) paths")
        }
        self.embeddings = embeddings
        dim = embeddings.dim
        inverseNorms = norms.map { $0 > 0 && $0.isFinite ? 1 / $0 : 0 }
        let allOK = ok?.allSatisfy { $0 } ?? true
        okRows = allOK ? nil : ok
        if let rowNumbers {
            // Positions are renamed rows: the scan works on positions, results report rowNumbers.
            precondition(allOK, "renamed rows are all searchable")
            rows = rowNumbers
        } else {
            rows = allOK ? Array(0..<n) : (0..<n).filter { ok![$0] }
        }
        rowPaths = paths
        rowLabels = labels
        rowNorms = reportedNorms ?? norms
        self.labelNames = labelNames
        renamed = rowNumbers != nil
    }

    /// Whether positions report other row numbers (the array initializer).
    private let renamed: Bool

    /// The searchable position of the row stored under `path`, if it is ok. The first call
    /// builds a path table (about 0.2 s at 1M rows); `scanPosition(ofPath:)` does not.
    public func position(ofPath path: String) -> Int? {
        let table = rowOfPath.withLock { table in
            if let table { return table }
            var map: [String: Int] = [:]
            map.reserveCapacity(rowPaths.count)
            for (i, p) in rowPaths.enumerated() where map[p] == nil && (okRows?[i] ?? true) { map[p] = i }
            table = map
            return map
        }
        return table[path].flatMap { storeIndex in positionOfStoreIndex(storeIndex) }
    }

    /// The same as `position(ofPath:)` by a linear scan (for one lookup).
    public func scanPosition(ofPath path: String) -> Int? {
        for (i, p) in rowPaths.enumerated() where p == path && (okRows?[i] ?? true) { return positionOfStoreIndex(i) }
        return nil
    }

    private func positionOfStoreIndex(_ index: Int) -> Int? {
        renamed || okRows == nil ? index : binarySearch(rows, index)
    }

    private func binarySearch(_ sorted: [Int], _ value: Int) -> Int? {
        var low = 0, high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low < sorted.count && sorted[low] == value ? low : nil
    }

    /// The searchable position of store row `row`, if it is ok.
    public func position(ofRow row: Int) -> Int? { binarySearch(rows, row) }

    /// The store row at searchable position `position`.
    public func row(at position: Int) -> Int { rows[position] }

    /// The internal index (into the embeddings and per-row arrays) of a searchable position.
    private func storeIndex(ofPosition position: Int) -> Int { renamed || okRows == nil ? position : rows[position] }

    /// The unit embedding at searchable `position`.
    public func unitEmbedding(at position: Int) -> [Float] {
        let i = storeIndex(ofPosition: position)
        let scale = inverseNorms[i]
        return embeddings.row(i).map { $0 * scale }
    }

    /// The path, label and norm of store row `row`, ok or failed ("", -1, 0 for a row not here).
    public func storedPath(ofRow row: Int) -> String { anyIndex(ofRow: row).map { rowPaths[$0] } ?? "" }
    public func storedLabel(ofRow row: Int) -> Int64 { anyIndex(ofRow: row).map { rowLabels[$0] } ?? -1 }
    public func storedNorm(ofRow row: Int) -> Float { anyIndex(ofRow: row).map { rowNorms[$0] } ?? 0 }

    private func anyIndex(ofRow row: Int) -> Int? {
        if renamed { return binarySearch(rows, row) }
        return row >= 0 && row < embeddings.count ? row : nil
    }

    /// The path, label and norm of searchable `position`.
    public func path(at position: Int) -> String { rowPaths[storeIndex(ofPosition: position)] }
    public func label(at position: Int) -> Int64 { rowLabels[storeIndex(ofPosition: position)] }
    public func norm(at position: Int) -> Float { rowNorms[storeIndex(ofPosition: position)] }

    /// The `top` nearest rows by cosine similarity for each query, best first (ties by row).
    ///
    /// - Parameters:
    ///   - queries: `q x dim` float32, row-major, any norm.
    ///   - top: K.
    ///   - filter: rows every query may return.
    ///   - excluding: per query, a store row to leave out (its own), or nil; empty: none.
    /// - Returns: q lists of at most `top` neighbours.
    /// - Throws: `.badQuery` when `queries` is not a multiple of `dim` or `excluding` is not
    ///   empty or one per query.
    public func search(_ queries: [Float], top: Int, filter: NeighborFilter = .init(), excluding: [Int?] = []) throws(FeatureStoreError) -> [[Neighbor]] {
        guard queries.count % dim == 0 else { throw .badQuery("query has \(queries.count) values, not a multiple of dim \(dim)") }
        let q = queries.count / dim
        guard excluding.isEmpty || excluding.count == q else { throw .badQuery("\(excluding.count) excluded rows for \(q) queries") }
        guard top > 0, q > 0, count > 0 else { return Array(repeating: [], count: q) }
        var unit = queries
        Self.normalize(&unit, dim: dim)
        let excluded: [Int] = excluding.isEmpty ? [] : excluding.map { row in row.flatMap { internalIndex(ofRow: $0) } ?? -1 }
        let allowed = allowedMask(filter)
        // Batches of at most 256 queries keep each thread's score block near 4 MiB.
        var results: [[Neighbor]] = []
        results.reserveCapacity(q)
        var start = 0
        while start < q {
            let end = min(q, start + 256)
            let heaps = scan(Array(unit[(start * dim)..<(end * dim)]), queries: end - start, top: top, allowed: allowed,
                             excluded: excluded.isEmpty ? [] : Array(excluded[start..<end]))
            results += heaps.map(neighbors)
            start = end
        }
        return results
    }

    /// The internal index of store row `row`, if searchable.
    private func internalIndex(ofRow row: Int) -> Int? {
        if renamed { return binarySearch(rows, row) }
        guard row >= 0, row < embeddings.count, okRows?[row] ?? true else { return nil }
        return row
    }

    private func neighbors(_ heap: TopK) -> [Neighbor] {
        heap.sorted().map { score, i in
            let label = rowLabels[i]
            let name = label >= 0 && Int(label) < labelNames.count ? labelNames[Int(label)] : nil
            return Neighbor(row: renamed ? rows[i] : i, path: rowPaths[i], label: label, labelName: name, score: score, norm: rowNorms[i])
        }
    }

    /// Scores `q` unit queries against every row, on one thread per core, and merges the heaps.
    private func scan(_ unit: [Float], queries q: Int, top: Int, allowed: [Bool]?, excluded: [Int]) -> [TopK] {
        let pieces = embeddings.pieces(ofAtMost: 4096)
        let threads = max(1, min(BLAS.threadCount, pieces.count))
        let parts = Mutex<[[TopK]]>([])
        BLAS.withSingleThreadedKernels {
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                // Thread t takes a contiguous run of pieces (the file in order, for readahead).
                let first = pieces.count * t / threads, last = pieces.count * (t + 1) / threads
                var heaps = (0..<q).map { _ in TopK(capacity: top) }
                scanPieces(pieces[first..<last], unit: unit, queries: q, heaps: &heaps, allowed: allowed, excluded: excluded)
                parts.withLock { $0.append(heaps) }
            }
        }
        var merged = (0..<q).map { _ in TopK(capacity: top) }
        for part in parts.withLock({ $0 }) {
            for i in 0..<q { merged[i].merge(part[i]) }
        }
        return merged
    }

    private func scanPieces(_ pieces: ArraySlice<StoredEmbeddings.Block>, unit: [Float], queries q: Int, heaps: inout [TopK],
                            allowed: [Bool]?, excluded: [Int]) {
        let maxRows = pieces.map(\.rows).max() ?? 0
        var scores = [Float](repeating: 0, count: q * maxRows)
        inverseNorms.withUnsafeBufferPointer { inverse in
            unit.withUnsafeBufferPointer { a in
                scores.withUnsafeMutableBufferPointer { c in
                    for piece in pieces {
                        let width = piece.rows, first = piece.firstRow
                        if q == 1 {
                            if Self.hasAVX2 {
                                searchDots(piece.base, count: width, dim: dim, query: a.baseAddress!, into: c.baseAddress!)
                            } else {
                                // The same loop built for the baseline: a multiply and an add.
                                VectorKernels.dots(piece.base, count: width, dim: dim, query: a.baseAddress!, into: c.baseAddress!,
                                                   fused: false)
                            }
                        } else {
                            BLAS.sgemm(transposeB: true, m: q, n: width, k: dim, a: a.baseAddress!, lda: dim,
                                       b: piece.base, ldb: dim, c: c.baseAddress!, ldc: width)
                        }
                        for i in 0..<q {
                            let base = i * width
                            let own = excluded.isEmpty ? -1 : excluded[i]
                            // This thread meets rows in ascending order, so a score equal to the
                            // heap's least loses the tie: `score > threshold` is the exact test.
                            var heap = TopK(capacity: 0)
                            swap(&heap, &heaps[i])
                            var threshold = heap.threshold
                            for j in 0..<width {
                                let score = c[base + j] * inverse[first + j]
                                guard score > threshold else { continue }  // NaN too
                                let index = first + j
                                if let allowed, !allowed[index] { continue }
                                if index == own { continue }
                                heap.insert(score, index)
                                threshold = heap.threshold
                            }
                            swap(&heap, &heaps[i])
                        }
                    }
                }
            }
        }
    }

    /// Whether the AVX2 + FMA build of the dot kernel (SearchAVX2) runs on this CPU.
    static let hasAVX2 = HostCPU.flags.contains("avx2") && HostCPU.flags.contains("fma")

    /// The memory-bandwidth floor of a scan: seconds to read every stored float once, summing
    /// them on the same threads and the same pieces as `search` (for `query --benchmark`).
    public func streamingReadSeconds() -> Double {
        let pieces = embeddings.pieces(ofAtMost: 4096)
        let threads = max(1, min(BLAS.threadCount, pieces.count))
        let sums = Mutex<Float>(0)
        let start = DispatchTime.now()
        let hasAVX2 = Self.hasAVX2, dim = dim
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var total: Float = 0
            for piece in pieces[(pieces.count * t / threads)..<(pieces.count * (t + 1) / threads)] {
                let n = piece.rows * dim
                if hasAVX2 {
                    total += searchSum(piece.base, count: n)
                } else {
                    let raw = UnsafeRawPointer(piece.base)
                    var a0 = SIMD16<Float>(repeating: 0), a1 = a0
                    var i = 0
                    while i + 32 <= n {
                        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                        a1 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                        i += 32
                    }
                    total += (a0 + a1).sum()
                    while i < n { total += piece.base[i]; i += 1 }
                }
            }
            sums.withLock { $0 += total }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return seconds
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

    /// Per internal index: ok and passing `filter`; nil when every row is allowed.
    private func allowedMask(_ filter: NeighborFilter) -> [Bool]? {
        if filter.isEmpty { return okRows }
        let excludedIndices = Set(filter.excludedRows.compactMap { internalIndex(ofRow: $0) })
        return (0..<embeddings.count).map { i in
            if let ok = okRows, !ok[i] { return false }
            if let minNorm = filter.minNorm, rowNorms[i] < minNorm { return false }
            if let labels = filter.labels, !labels.contains(rowLabels[i]) { return false }
            return !excludedIndices.contains(i)
        }
    }
}

/// The K largest (score, index) pairs seen, as a min-heap on (score, -index).
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

    /// The score a new, later position must beat: -infinity until full, then the least kept.
    var threshold: Float { scores.count < capacity ? -.infinity : scores[0] }

    /// Whether `insert(score, position)` would keep it (false for NaN).
    @inline(__always) func admits(_ score: Float, _ position: Int) -> Bool {
        if scores.count < capacity { return !score.isNaN }
        return Self.below(scores[0], positions[0], score, position)
    }

    @inline(__always) mutating func insert(_ score: Float, _ position: Int) {
        if score.isNaN { return }
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

    /// Adds every pair of `other`.
    mutating func merge(_ other: TopK) {
        for (s, p) in zip(other.scores, other.positions) { insert(s, p) }
    }

    /// Best first: higher score, then earlier position.
    func sorted() -> [(Float, Int)] {
        zip(scores, positions).sorted { Self.below($1.0, $1.1, $0.0, $0.1) }
    }
}
