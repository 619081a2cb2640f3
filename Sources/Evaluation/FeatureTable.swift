/// The reducer's input: one row per image, held in memory.
///
/// Rows with `labels[i] >= 0` are probes of identity `labelNames[labels[i]]`; rows with
/// `labels[i] == -1` are distractors. `embeddings` is row-major `count x dimension`, as the
/// extractor wrote it (not necessarily unit length); `norms[i]` is the MagFace quality, the
/// L2 norm of the raw embedding.
public struct FeatureTable: Sendable {
    public let dimension: Int
    public var embeddings: [Float]
    public var norms: [Float]
    public var labels: [Int]
    public var labelNames: [String]
    public var paths: [String]

    /// - Parameter norms: the raw embedding norms; computed from `embeddings` when nil.
    /// - Throws: `EvaluationError.malformedTable` when lengths disagree, a label is out of
    ///   range, or a row has zero norm (its cosine is undefined).
    public init(
        dimension: Int, embeddings: [Float], norms: [Float]? = nil, labels: [Int],
        labelNames: [String], paths: [String]
    ) throws {
        guard dimension > 0 else { throw EvaluationError.malformedTable("dimension \(dimension)") }
        let n = labels.count
        guard embeddings.count == n * dimension else {
            throw EvaluationError.malformedTable("\(embeddings.count) floats for \(n) rows of \(dimension)")
        }
        guard paths.count == n else { throw EvaluationError.malformedTable("\(paths.count) paths for \(n) rows") }
        if let norms, norms.count != n { throw EvaluationError.malformedTable("\(norms.count) norms for \(n) rows") }
        if let bad = labels.firstIndex(where: { $0 < -1 || $0 >= labelNames.count }) {
            throw EvaluationError.malformedTable("row \(bad) (\(paths[bad])) has label \(labels[bad]) with \(labelNames.count) names")
        }
        self.dimension = dimension
        self.embeddings = embeddings
        self.labels = labels
        self.labelNames = labelNames
        self.paths = paths
        self.norms = norms ?? (0..<n).map { i in
            embeddings.withUnsafeBufferPointer { Self.norm(UnsafeBufferPointer(rebasing: $0[(i * dimension)..<((i + 1) * dimension)])) }
        }
        let raw = embeddings
        for i in 0..<n {
            let rowNorm = raw.withUnsafeBufferPointer { Self.norm(UnsafeBufferPointer(rebasing: $0[(i * dimension)..<((i + 1) * dimension)])) }
            guard rowNorm > 0, rowNorm.isFinite else {
                throw EvaluationError.malformedTable("row \(i) (\(paths[i])) has norm \(rowNorm)")
            }
        }
    }

    public var count: Int { labels.count }
    /// Rows with an identity, in table order.
    public var probeRows: [Int] { labels.indices.filter { labels[$0] >= 0 } }
    /// Rows with label -1, in table order.
    public var distractorRows: [Int] { labels.indices.filter { labels[$0] < 0 } }

    /// Copies `rows` into `out` (`rows.count x dimension`), each scaled to unit length
    /// (in Double, then rounded to Float).
    public func normalizedRows<C: Collection>(_ rows: C, into out: UnsafeMutablePointer<Float>) where C.Element == Int {
        embeddings.withUnsafeBufferPointer { e in
            for (k, r) in rows.enumerated() {
                let src = UnsafeBufferPointer(rebasing: e[(r * dimension)..<((r + 1) * dimension)])
                let inv = 1.0 / Double(Self.norm(src))
                let dst = out + k * dimension
                for j in 0..<dimension { dst[j] = Float(Double(src[j]) * inv) }
            }
        }
    }

    /// `rows.count x dimension` unit-length rows.
    public func normalizedRows(_ rows: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: rows.count * dimension)
        out.withUnsafeMutableBufferPointer { normalizedRows(rows, into: $0.baseAddress!) }
        return out
    }

    /// The L2 norm of a vector, accumulated in Double.
    static func norm(_ v: UnsafeBufferPointer<Float>) -> Float {
        var s = 0.0
        for x in v { s += Double(x) * Double(x) }
        return Float(s.squareRoot())
    }

    /// Row index by path (the first row wins when a path repeats).
    public func rowsByPath() -> [String: Int] {
        var map: [String: Int] = [:]
        map.reserveCapacity(count)
        for (i, p) in paths.enumerated() where map[p] == nil { map[p] = i }
        return map
    }
}
