/// Counts negatives against the sorted positive scores, one score at a time, so that AUC,
/// best accuracy and strict TAR@FAR are exact without holding the negatives
/// (docs/metrics.md, "Streaming").
///
/// For each negative `x` it records `lo = #positives < x` and `hi = #positives <= x`.
/// `histHi[h]` counts negatives with `hi == h`; AUC's numerator is `sum(P - hi) + 0.5 sum(hi - lo)`.
struct NegativeAccumulator {
    /// Positive scores, ascending.
    let positives: [Float]
    /// `bucketStart[b]` = number of positives whose bucket is < b; `bucketStart.count == buckets + 1`.
    private let bucketStart: [Int32]
    private static let buckets = 1 << 16
    private(set) var histHi: [Int]
    private(set) var greater = 0  // sum of (P - hi)
    private(set) var ties = 0  // sum of (hi - lo)
    var stats = ScoreStatsAccumulator()

    init(sortedPositives: [Float]) {
        precondition(zip(sortedPositives, sortedPositives.dropFirst()).allSatisfy { $0 <= $1 }, "positives not sorted")
        positives = sortedPositives
        var counts = [Int32](repeating: 0, count: Self.buckets + 1)
        for p in sortedPositives { counts[Self.bucket(p) + 1] += 1 }
        for b in 0..<Self.buckets { counts[b + 1] += counts[b] }
        bucketStart = counts
        histHi = [Int](repeating: 0, count: sortedPositives.count + 1)
    }

    /// A monotone (non-decreasing) map of a score to a bucket: equal scores share one, and a
    /// lower bucket always holds lower scores.
    @inline(__always) private static func bucket(_ x: Float) -> Int {
        let f = (x + 1.5) * Float(buckets / 4)
        if !(f > 0) { return 0 }
        return f >= Float(buckets - 1) ? buckets - 1 : Int(f)
    }

    @inline(__always) mutating func add(_ x: Float) {
        let b = Self.bucket(x)
        var lo = Int(bucketStart[b])
        let end = Int(bucketStart[b + 1])
        let hi: Int = positives.withUnsafeBufferPointer { p in
            while lo < end, p[lo] < x { lo += 1 }
            var h = lo
            while h < end, p[h] <= x { h += 1 }
            return h
        }
        histHi[hi] += 1
        greater += positives.count - hi
        ties += hi - lo
        stats.add(x)
    }

    mutating func add(_ scores: UnsafeBufferPointer<Float>) {
        for x in scores { add(x) }
    }
}
