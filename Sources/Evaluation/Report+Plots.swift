import Foundation

extension Report {
    /// The four plots of report.html's section 1, as inline SVG (docs/metrics.md, "Outputs").
    func plots() -> String {
        "<div class=\"plots\">\n" + rocPlot() + histogramPlot() + cmcPlot() + rejectPlot() + "</div>\n"
    }

    /// TAR against FAR on a log axis with a tick at every decade from the smallest FAR one
    /// negative pair can make (1 / negatives) to 1. The ROC reaches (1, 1) at the lowest
    /// threshold, and below its first non-zero FAR it holds the TAR it has at FAR 0.
    func rocPlot() -> String {
        let v = verification
        let x = PlotAxis.decades("FAR (false accept rate)", from: 1 / Double(max(v.negativePairs, 1)), to: 1)
        var points = v.roc.filter { $0[0] > 0 }.map { ($0[0], $0[1]) }
        if let atZero = v.roc.filter({ $0[0] == 0 }).map({ $0[1] }).max(), atZero > 0 {
            points.insert((x.lo, atZero), at: 0)
        }
        if points.last.map({ $0.0 < 1 || $0.1 < 1 }) ?? true { points.append((1, 1)) }
        let y = PlotAxis.linear("TAR (true accept rate)", from: 0, to: 1)
        return SVGPlot.chart(id: "roc", title: "ROC", x: x, y: y, series: [.init(name: "ROC", color: "#1f77b4", points: points)])
    }

    /// The genuine and impostor score histograms, each as a fraction of its pairs, over the
    /// scores either one has (from `ScoreStats.FineHistogram`, its bins merged into at most
    /// ~80 of a round width), with the best-accuracy and pair thresholds as dashed lines.
    func histogramPlot() -> String {
        let v = verification
        typealias Fine = ScoreStats.FineHistogram
        let sides = [v.positiveStats.fineHistogram, v.negativeStats.fineHistogram].filter { !$0.counts.isEmpty }
        let firstBin = sides.map(\.first).min() ?? 0, lastBin = sides.map { $0.first + $0.counts.count - 1 }.max() ?? Fine.binCount - 1
        let merge = [1, 2, 5, 10, 25, 50].first { (lastBin - firstBin + 1) <= 80 * $0 } ?? 50
        let start = firstBin / merge * merge
        let groups = (lastBin / merge - firstBin / merge) + 1
        var markers: [SVGPlot.Marker] = []
        if let t = v.bestThreshold {
            markers.append(.init(x: Double(t), label: "best-accuracy threshold \(HTML.number(Double(t), 3))", color: "#111", dash: "6 3"))
        }
        if let p = pairs, markers.first.map({ abs($0.x - Double(p.threshold)) > 5e-4 }) ?? true {
            markers.append(.init(x: Double(p.threshold), label: "pair threshold \(HTML.number(Double(p.threshold), 3))", color: "#7f3fbf", dash: "2 3"))
        }
        var lo = Fine.edge(start), hi = Fine.edge(start + groups * merge)
        for m in markers { lo = min(lo, m.x - 0.01); hi = max(hi, m.x + 0.01) }
        let x = PlotAxis.linear("cosine score", from: max(lo, -1), to: min(hi, 1), count: 8)
        func density(_ h: Fine) -> [(Double, Double)] {
            var counts = [Int](repeating: 0, count: groups)
            for (k, c) in h.counts.enumerated() { counts[(h.first + k - start) / merge] += c }
            let total = Double(max(counts.reduce(0, +), 1))
            return counts.enumerated().map { (Fine.edge(start + $0.offset * merge) + Fine.binWidth * Double(merge) / 2, Double($0.element) / total) }
        }
        let genuine = density(v.positiveStats.fineHistogram), impostor = density(v.negativeStats.fineHistogram)
        let y = PlotAxis.linear("fraction of pairs per bin (\(HTML.number(Fine.binWidth * Double(merge), 3)) wide)", from: 0, to: max((genuine + impostor).map(\.1).max() ?? 1, 1e-3) * 1.05)
        return SVGPlot.chart(id: "histogram", title: "Score histograms", x: x, y: y, series: [
            .init(name: "genuine (same identity)", color: "#2ca02c", points: genuine, style: .filledSteps),
            .init(name: "impostor (different identities)", color: "#d62728", points: impostor, style: .filledSteps),
        ], markers: markers)
    }

    /// Identification rate at ranks 1 to 10.
    func cmcPlot() -> String {
        let cmc = identification.cmc.enumerated().map { (Double($0.offset + 1), $0.element) }
        let x = PlotAxis(label: "rank", log: false, lo: 0.5, hi: Double(cmc.count) + 0.5, ticks: cmc.map { ($0.0, String(Int($0.0))) })
        let y = PlotAxis.linear("identification rate", from: Self.floorRate(cmc.map(\.1).min() ?? 0), to: 1)
        return SVGPlot.chart(id: "cmc", title: "CMC", x: x, y: y, series: [.init(name: "CMC", color: "#9467bd", points: cmc, dots: true)])
    }

    /// Rank-1 error, FNMR at FMR 1e-3 and 1 - best accuracy as the lowest-norm probes are dropped.
    func rejectPlot() -> String {
        let series: [SVGPlot.Series] = [
            .init(name: "rank-1 error", color: "#ff7f0e", points: rejectCurve.map { ($0.rejected, 1 - $0.rank1) }, dots: true),
            .init(name: "FNMR @ FMR 1e-3", color: "#1f77b4", points: rejectCurve.map { ($0.rejected, $0.fnmrAtFMR1e3) }, dots: true),
            .init(name: "1 - best accuracy", color: "#8c564b", points: rejectCurve.map { ($0.rejected, 1 - $0.bestAccuracy) }, dots: true),
        ]
        let x = PlotAxis.linear("fraction rejected (lowest norm first)", from: 0, to: rejectCurve.map(\.rejected).max() ?? 0.5)
        let y = PlotAxis.linear("error", from: 0, to: max(series.flatMap { $0.points.map(\.1) }.max() ?? 0, 0.01))
        return SVGPlot.chart(id: "reject", title: "Error versus reject", x: x, y: y, series: series)
    }

    /// A rate axis's lower end: 0, or a tenth below the lowest rate when all are high.
    static func floorRate(_ lowest: Double) -> Double { lowest > 0.5 ? max(0, Foundation.floor(lowest * 10 - 0.5) / 10) : 0 }
}
