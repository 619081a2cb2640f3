/// Mean, spread and histogram of a set of scores (docs/metrics.md, "Score distribution").
public struct ScoreStats: Codable, Sendable, Equatable {
    /// Histogram bins: `binCount` equal bins over [-1, 1], as `np.histogram(s, bins=100, range=(-1, 1))`;
    /// scores outside [-1, 1] are counted in `count` but in no bin.
    public static let binCount = 100
    public var count: Int
    public var mean: Double
    /// Population standard deviation (`np.std`, ddof 0).
    public var std: Double
    public var min: Float
    public var max: Float
    public var histogram: [Int]
    /// The same scores in finer bins, for report.html's plot.
    public var fineHistogram: FineHistogram

    /// `binCount` equal bins over [-1, 1] (0.002 wide), kept from the first to the last
    /// non-empty bin, so that the plot shows scores that crowd into a few of the 0.02-wide
    /// bins (a random-weight model's) as a shape. Bin `i` is [-1 + i w, -1 + (i + 1) w), the
    /// last one closed; not numpy's edge arithmetic (the plot needs none).
    public struct FineHistogram: Codable, Sendable, Equatable {
        public static let binCount = 1000
        public static let binWidth = 2.0 / Double(binCount)
        /// The bin of `counts[0]`.
        public var first: Int
        public var counts: [Int]

        /// Keeps `bins` (all `binCount` of them) from the first to the last non-empty one.
        init(trimming bins: [Int]) {
            guard let lo = bins.firstIndex(where: { $0 > 0 }), let hi = bins.lastIndex(where: { $0 > 0 }) else { first = 0; counts = []; return }
            first = lo
            counts = Array(bins[lo...hi])
        }

        /// The bin of `x`, or nil outside [-1, 1].
        @inline(__always) static func bin(_ x: Float) -> Int? {
            guard x >= -1, x <= 1 else { return nil }
            return Swift.min(Int((x + 1) * Float(binCount / 2)), binCount - 1)
        }

        /// The lower edge of bin `i`.
        public static func edge(_ i: Int) -> Double { Double(i) * binWidth - 1 }
    }

    /// The lower edge of bin `i` (and upper edge of bin `i-1`), as numpy's linspace computes it.
    public static func edge(_ i: Int) -> Double { i == binCount ? 1.0 : Double(i) * (2.0 / Double(binCount)) + -1.0 }

    /// The bin of `x` exactly as numpy's `histogram` assigns it, or nil outside [-1, 1].
    @inline(__always) static func bin(_ x: Float) -> Int? {
        let v = Double(x)
        guard v >= -1.0, v <= 1.0 else { return nil }
        var i = Int((v + 1.0) * (Double(binCount) / 2.0))
        if i == binCount { i -= 1 }
        if v < edge(i) { i -= 1 } else if i != binCount - 1, v >= edge(i + 1) { i += 1 }
        return i
    }
}

/// Streams scores into `ScoreStats`: sums in Double.
struct ScoreStatsAccumulator {
    var count = 0
    var sum = 0.0
    var sumSquares = 0.0
    var minimum = Float.infinity
    var maximum = -Float.infinity
    var histogram = [Int](repeating: 0, count: ScoreStats.binCount)
    var fine = [Int](repeating: 0, count: ScoreStats.FineHistogram.binCount)

    @inline(__always) mutating func add(_ x: Float) {
        count += 1
        let v = Double(x)
        sum += v
        sumSquares += v * v
        if x < minimum { minimum = x }
        if x > maximum { maximum = x }
        if let b = ScoreStats.bin(x) { histogram[b] += 1 }
        if let b = ScoreStats.FineHistogram.bin(x) { fine[b] += 1 }
    }

    mutating func merge(_ o: ScoreStatsAccumulator) {
        count += o.count
        sum += o.sum
        sumSquares += o.sumSquares
        minimum = Swift.min(minimum, o.minimum)
        maximum = Swift.max(maximum, o.maximum)
        for b in histogram.indices { histogram[b] += o.histogram[b] }
        for b in fine.indices { fine[b] += o.fine[b] }
    }

    var stats: ScoreStats {
        let mean = count > 0 ? sum / Double(count) : 0
        let variance = count > 0 ? Swift.max(0, sumSquares / Double(count) - mean * mean) : 0
        return ScoreStats(count: count, mean: mean, std: variance.squareRoot(), min: minimum, max: maximum, histogram: histogram, fineHistogram: .init(trimming: fine))
    }
}
