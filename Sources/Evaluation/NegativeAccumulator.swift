/// Counts negatives against the sorted positive scores, one score at a time, so that AUC,
/// best accuracy and strict TAR@FAR are exact without holding the negatives
/// (docs/metrics.md, "Streaming").
///
/// For each negative `x` it records `lo = #positives < x` and `hi = #positives <= x`.
/// `histHi[h]` counts negatives with `hi == h`; AUC's numerator is `sum(P - hi) + 0.5 sum(hi - lo)`.
import Foundation

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

    /// The bulk form of `add(_:)`: the same counts, with the arrays held outside `self` for
    /// the loop (no per-score uniqueness or bounds checks).
    mutating func add(_ scores: UnsafeBufferPointer<Float>) {
        var hist = histHi
        histHi = []
        var bins = stats.histogram
        stats.histogram = []
        var fine = stats.fine
        stats.fine = []
        var greater = 0, ties = 0, sum = 0.0, sumSquares = 0.0
        var lowest = stats.minimum, highest = stats.maximum
        let nP = positives.count
        positives.withUnsafeBufferPointer { p in
            bucketStart.withUnsafeBufferPointer { starts in
                hist.withUnsafeMutableBufferPointer { h in
                    bins.withUnsafeMutableBufferPointer { bh in
                        fine.withUnsafeMutableBufferPointer { fh in
                            for x in scores {
                                let b = Self.bucket(x)
                                var lo = Int(starts[b])
                                let end = Int(starts[b + 1])
                                while lo < end, p[lo] < x { lo += 1 }
                                var hi = lo
                                while hi < end, p[hi] <= x { hi += 1 }
                                h[hi] += 1
                                greater += nP - hi
                                ties += hi - lo
                                let v = Double(x)
                                sum += v
                                sumSquares += v * v
                                lowest = Swift.min(lowest, x)
                                highest = Swift.max(highest, x)
                                if let k = ScoreStats.bin(x) { bh[k] += 1 }
                                if let k = ScoreStats.FineHistogram.bin(x) { fh[k] += 1 }
                            }
                        }
                    }
                }
            }
        }
        histHi = hist
        stats.histogram = bins
        stats.fine = fine
        self.greater += greater
        self.ties += ties
        stats.count += scores.count
        stats.sum += sum
        stats.sumSquares += sumSquares
        stats.minimum = lowest
        stats.maximum = highest
    }

    /// Adds the counts of `other` (built on the same positives).
    mutating func merge(_ other: NegativeAccumulator) {
        precondition(other.positives.count == positives.count)
        for h in histHi.indices { histHi[h] += other.histHi[h] }
        greater += other.greater
        ties += other.ties
        stats.merge(other.stats)
    }
}

/// Accumulators that split each block across a fixed pool of threads (one per core), merged
/// at the end. Runs between GEMMs, never inside one.
struct ParallelNegativeAccumulator {
    private var parts: [NegativeAccumulator]

    init(sortedPositives: [Float], threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        parts = Array(repeating: NegativeAccumulator(sortedPositives: sortedPositives), count: max(1, threads))
    }

    mutating func add(_ scores: UnsafeBufferPointer<Float>) {
        let n = parts.count
        if n == 1 || scores.count < 65536 { parts[0].add(scores); return }
        parts.withUnsafeMutableBufferPointer { buffer in
            let shared = SharedParts(base: buffer.baseAddress!, scores: scores)
            DispatchQueue.concurrentPerform(iterations: n) { k in
                let lo = shared.scores.count * k / n, hi = shared.scores.count * (k + 1) / n
                shared.base[k].add(UnsafeBufferPointer(rebasing: shared.scores[lo..<hi]))
            }
        }
    }

    /// Every part's counts in one accumulator.
    func merged() -> NegativeAccumulator {
        var total = parts[0]
        for p in parts.dropFirst() { total.merge(p) }
        return total
    }
}

/// The pointers one `concurrentPerform` shares: each iteration writes only its own part and
/// reads its own slice of scores, and the call returns before the buffers go away.
private struct SharedParts: @unchecked Sendable {
    let base: UnsafeMutablePointer<NegativeAccumulator>
    let scores: UnsafeBufferPointer<Float>
}
