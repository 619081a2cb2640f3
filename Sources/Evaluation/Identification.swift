import Base

/// One point of the MegaFace sweep: rank-1 identification with the first `distractors`
/// distractors (table order) in the gallery.
public struct MegaFacePoint: Codable, Sendable, Equatable {
    public var distractors: Int
    public var queries: Int
    public var correct: Int
    public var rate: Double
}

/// Identification over the table (docs/metrics.md, section 1, "Identification").
public struct IdentificationMetrics: Codable, Sendable, Equatable {
    public static let cmcDepth = 10
    public var probes: Int
    public var galleryRows: Int
    public var rank1Correct: Int
    public var rank1: Double
    /// `cmc[k-1]`: fraction of probes whose first same-identity neighbour is within rank k.
    public var cmc: [Double]
    public var megaface: [MegaFacePoint]
}

/// The probe-side similarities of one pass over the table: probe x probe in full, and for
/// every probe its best distractors, running MegaFace maxima and (optionally) every
/// probe x distractor score streamed into a sink. Nothing N x N is ever held.
struct SimilarityPass {
    let probeRows: [Int]
    let probeLabels: [Int]
    /// `P x P`, row-major, in probe order.
    let probeScores: [Float]
    /// Per probe, its 10 nearest other rows of the whole table: (score, table row), best first.
    var neighbours: [[(score: Float, row: Int)]]
    /// `megafaceMax[c][i]`: probe i's best score over the first `megafaceSizes[c]` distractors.
    var megafaceMax: [[Float]]
    let megafaceSizes: [Int]
    /// Per probe, its best distractor (score, row); (-inf, Int.max) without distractors.
    var bestDistractor: [(score: Float, row: Int)]

    /// - Parameters:
    ///   - megafaceSizes: ascending distractor counts, each <= the number of distractors.
    ///   - negativeSink: called with the `P x P` probe scores and each block of `P x B`
    ///     probe x distractor scores.
    init(
        table: FeatureTable, megafaceSizes: [Int], blockRows: Int = 2048,
        negativeSink: ((_ probeScores: [Float], _ block: UnsafeBufferPointer<Float>) -> Void)? = nil
    ) {
        let d = table.dimension
        probeRows = table.probeRows
        probeLabels = probeRows.map { table.labels[$0] }
        let nP = probeRows.count
        let probes = table.normalizedRows(probeRows)
        var pp = [Float](repeating: 0, count: nP * nP)
        probes.withUnsafeBufferPointer { a in
            pp.withUnsafeMutableBufferPointer { c in
                BLAS.sgemm(transposeB: true, m: nP, n: nP, k: d, a: a.baseAddress!, lda: d, b: a.baseAddress!, ldb: d, c: c.baseAddress!, ldc: nP)
            }
        }
        probeScores = pp
        self.megafaceSizes = megafaceSizes
        var top = [[(score: Float, row: Int)]](repeating: [], count: nP)
        for i in 0..<nP {
            var list: [(score: Float, row: Int)] = []
            for j in 0..<nP where j != i { Self.insert((pp[i * nP + j], probeRows[j]), into: &list) }
            top[i] = list
        }
        var maxima = [[Float]](repeating: [Float](repeating: -.infinity, count: nP), count: megafaceSizes.count)
        var best = [(score: Float, row: Int)](repeating: (-.infinity, Int.max), count: nP)
        let distractors = table.distractorRows
        var block = [Float](repeating: 0, count: blockRows * d)
        var scores = [Float](repeating: 0, count: nP * blockRows)
        var running = [Float](repeating: -.infinity, count: nP)
        var start = 0
        while start < distractors.count {
            let rows = distractors[start..<min(start + blockRows, distractors.count)]
            let b = rows.count
            block.withUnsafeMutableBufferPointer { table.normalizedRows(rows, into: $0.baseAddress!) }
            probes.withUnsafeBufferPointer { a in
                block.withUnsafeBufferPointer { bb in
                    scores.withUnsafeMutableBufferPointer { c in
                        BLAS.sgemm(transposeB: true, m: nP, n: b, k: d, a: a.baseAddress!, lda: d, b: bb.baseAddress!, ldb: d, c: c.baseAddress!, ldc: b)
                    }
                }
            }
            scores.withUnsafeBufferPointer { s in
                if let negativeSink { negativeSink(pp, UnsafeBufferPointer(rebasing: s[0..<(nP * b)])) }
                // Segments between MegaFace checkpoints inside this block.
                var cuts = [0]
                for size in megafaceSizes where size > start && size < start + b { cuts.append(size - start) }
                cuts.append(b)
                let rowIDs = Array(rows)
                for i in 0..<nP {
                    let r = s.baseAddress! + i * b
                    var floor = top[i].count == Self.depth ? top[i][Self.depth - 1] : (-Float.infinity, Int.max)
                    for j in 0..<b where r[j] >= floor.0 {
                        if Self.better((r[j], rowIDs[j]), than: floor) {
                            Self.insert((r[j], rowIDs[j]), into: &top[i])
                            if top[i].count == Self.depth { floor = top[i][Self.depth - 1] }
                        }
                    }
                    for j in 0..<b where Self.better((r[j], rowIDs[j]), than: best[i]) { best[i] = (r[j], rowIDs[j]) }
                    var m = running[i]
                    for segment in 0..<(cuts.count - 1) {
                        for j in cuts[segment]..<cuts[segment + 1] where r[j] > m { m = r[j] }
                        let reached = start + cuts[segment + 1]
                        for (c, size) in megafaceSizes.enumerated() where size == reached { maxima[c][i] = m }
                    }
                    running[i] = m
                }
            }
            start += b
        }
        neighbours = top
        megafaceMax = maxima
        bestDistractor = best
    }

    static let depth = IdentificationMetrics.cmcDepth

    /// Ranking order: higher score first, then lower table row.
    @inline(__always) static func better(_ a: (Float, Int), than b: (Float, Int)) -> Bool {
        a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    static func insert(_ c: (score: Float, row: Int), into list: inout [(score: Float, row: Int)]) {
        if list.count == depth, !better(c, than: list[depth - 1]) { return }
        var k = list.count
        while k > 0, better(c, than: list[k - 1]) { k -= 1 }
        list.insert(c, at: k)
        if list.count > depth { list.removeLast() }
    }

    func identification(table: FeatureTable) -> IdentificationMetrics {
        let nP = probeRows.count
        var firstHit = [Int](repeating: 0, count: Self.depth + 1)
        for i in 0..<nP {
            if let k = neighbours[i].firstIndex(where: { table.labels[$0.row] == probeLabels[i] }) { firstHit[k + 1] += 1 }
        }
        var cmc: [Double] = []
        var cumulative = 0
        for k in 1...Self.depth { cumulative += firstHit[k]; cmc.append(Double(cumulative) / Double(max(nP, 1))) }
        var points: [MegaFacePoint] = []
        for (c, size) in megafaceSizes.enumerated() {
            var queries = 0, correct = 0
            for q in 0..<nP {
                for g in 0..<nP where g != q && probeLabels[g] == probeLabels[q] {
                    queries += 1
                    if probeScores[q * nP + g] > megafaceMax[c][q] { correct += 1 }
                }
            }
            points.append(MegaFacePoint(distractors: size, queries: queries, correct: correct, rate: queries > 0 ? Double(correct) / Double(queries) : 0))
        }
        return IdentificationMetrics(
            probes: nP, galleryRows: table.count, rank1Correct: firstHit[1],
            rank1: Double(firstHit[1]) / Double(max(nP, 1)), cmc: cmc, megaface: points)
    }
}
