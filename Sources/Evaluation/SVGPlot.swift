import Foundation

/// One axis of an `SVGPlot`: its range in data units and where its ticks and gridlines go.
struct PlotAxis {
    var label: String
    /// A log10 axis (every value positive) or a linear one.
    var log: Bool
    var lo: Double
    var hi: Double
    /// Labelled ticks, each with a gridline across the plot.
    var ticks: [(value: Double, label: String)]
    /// Unlabelled ticks with a fainter gridline (the 2..9 multiples of a log axis's decades).
    var minor: [Double] = []

    /// A log axis from the decade at or below `lo` to the decade at or above `hi`, with a
    /// labelled tick at every decade (`1e-4`, …, `0.1`, `1`) and minor ticks at 2..9 times each.
    static func decades(_ label: String, from lo: Double, to hi: Double) -> PlotAxis {
        precondition(lo > 0 && hi >= lo, "a log axis needs 0 < lo <= hi")
        let k0 = Int(Foundation.floor(log10(lo) + 1e-9)), k1 = max(Int(Foundation.ceil(log10(hi) - 1e-9)), k0 + 1)
        let ticks = (k0...k1).map { (pow(10, Double($0)), decadeLabel($0)) }
        let minor = (k0..<k1).flatMap { k in (2...9).map { Double($0) * pow(10, Double(k)) } }
        return PlotAxis(label: label, log: true, lo: pow(10, Double(k0)), hi: pow(10, Double(k1)), ticks: ticks, minor: minor)
    }

    /// `1e-4` for 10^-4; `0.1`, `1`, `10` near 1.
    static func decadeLabel(_ k: Int) -> String {
        switch k {
        case -1: "0.1"
        case 0: "1"
        case 1: "10"
        default: "1e\(k)"
        }
    }

    /// A linear axis over [lo, hi] widened to a round step (1, 2 or 5 times a power of ten,
    /// about `count` steps), with a labelled tick at every step.
    static func linear(_ label: String, from lo: Double, to hi: Double, count: Int = 5) -> PlotAxis {
        var lo = lo, hi = hi
        if !(hi - lo > 1e-12) { lo -= 0.5; hi += 0.5 }
        let step = roundStep((hi - lo) / Double(count))
        let first = Foundation.floor(lo / step + 1e-9), last = Foundation.ceil(hi / step - 1e-9)
        let digits = max(0, -Int(Foundation.floor(log10(step) + 1e-9)))
        let ticks = stride(from: first, through: last + 0.5, by: 1).map { k -> (Double, String) in
            let v = k * step
            return (v, String(format: "%.\(digits)f", abs(v) < step / 2 ? 0 : v))
        }
        return PlotAxis(label: label, log: false, lo: first * step, hi: last * step, ticks: ticks)
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func roundStep(_ raw: Double) -> Double {
        let p = pow(10, Foundation.floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * p >= raw * (1 - 1e-9) { return m * p }
        return 10 * p
    }

    /// Where `v` falls, 0 at `lo` and 1 at `hi`.
    func fraction(_ v: Double) -> Double {
        log ? (log10(v) - log10(lo)) / (log10(hi) - log10(lo)) : (v - lo) / (hi - lo)
    }
}

/// Inline SVG charts for report.html: fixed size, gridlines at every tick, a legend above the
/// plot area (so it never covers data), vertical markers (thresholds). No script, no fonts fetched.
enum SVGPlot {
    enum Style { case line, filledSteps }

    struct Series {
        var name: String
        var color: String
        var points: [(Double, Double)]
        var style = Style.line
        /// Draws a dot at every point (short series: CMC, reject curve).
        var dots = false
    }

    /// A vertical line at `x` across the plot, labelled at its top.
    struct Marker {
        var x: Double
        var label: String
        var color: String
        var dash: String
    }

    static let width = 470.0, height = 330.0
    static let left = 58.0, right = 16.0, bottom = 46.0

    /// One chart; `id` becomes the svg's `plot-<id>`, and the data lines sit in its `g.data`.
    static func chart(id: String, title: String, x: PlotAxis, y: PlotAxis, series: [Series], markers: [Marker] = []) -> String {
        let w = width, h = height
        // The legend: one row of swatches under the title, a second when they do not fit.
        var legend: [(name: String, color: String, dash: String, x: Double, row: Int)] = []
        var cursor = left, row = 0
        for item in series.map({ ($0.name, $0.color, "") }) + markers.map({ ($0.label, $0.color, $0.dash) }) {
            let itemWidth = 25 + Double(item.0.count) * 6.9 + 14
            if cursor + itemWidth > w - right, cursor > left { row += 1; cursor = left }
            legend.append((item.0, item.1, item.2, cursor, row))
            cursor += itemWidth
        }
        let top = 34 + Double(row + 1) * 15 + 4
        let plotW = w - left - right, plotH = h - top - bottom
        func px(_ v: Double) -> Double { left + x.fraction(v) * plotW }
        func py(_ v: Double) -> Double { h - bottom - y.fraction(v) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func clampX(_ v: Double) -> Double { min(max(v, x.lo), x.hi) }

        var svg = "<svg class=\"plot\" id=\"plot-\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\" font-family=\"sans-serif\">\n"
        svg += "<title>\(HTML.escape(title))</title>\n"
        svg += "<text x=\"\(f(w / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(HTML.escape(title))</text>\n"
        svg += "<g class=\"legend\" font-size=\"12\">"
        for item in legend {
            let ly = 38 + Double(item.row) * 15
            svg += "<line x1=\"\(f(item.x))\" y1=\"\(f(ly - 4))\" x2=\"\(f(item.x + 20))\" y2=\"\(f(ly - 4))\" stroke=\"\(item.color)\" stroke-width=\"3\"\(item.dash.isEmpty ? "" : " stroke-dasharray=\"\(item.dash)\"")/>"
            svg += "<text x=\"\(f(item.x + 25))\" y=\"\(f(ly))\">\(HTML.escape(item.name))</text>"
        }
        svg += "</g>\n<g class=\"grid\">"
        for v in x.minor where v > x.lo && v < x.hi {
            svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top))\" x2=\"\(f(px(v)))\" y2=\"\(f(h - bottom))\" stroke=\"#f0f0f0\"/>"
        }
        for t in x.ticks { svg += "<line x1=\"\(f(px(t.value)))\" y1=\"\(f(top))\" x2=\"\(f(px(t.value)))\" y2=\"\(f(h - bottom))\" stroke=\"#dcdcdc\"/>" }
        for t in y.ticks { svg += "<line x1=\"\(f(left))\" y1=\"\(f(py(t.value)))\" x2=\"\(f(w - right))\" y2=\"\(f(py(t.value)))\" stroke=\"#dcdcdc\"/>" }
        svg += "</g>\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#555\"/>\n"
        svg += "<g class=\"x-ticks\" font-size=\"11\" text-anchor=\"middle\">"
        for v in x.minor where v > x.lo && v < x.hi {
            svg += "<line x1=\"\(f(px(v)))\" y1=\"\(f(h - bottom))\" x2=\"\(f(px(v)))\" y2=\"\(f(h - bottom + 3))\" stroke=\"#555\"/>"
        }
        for t in x.ticks {
            svg += "<line x1=\"\(f(px(t.value)))\" y1=\"\(f(h - bottom))\" x2=\"\(f(px(t.value)))\" y2=\"\(f(h - bottom + 5))\" stroke=\"#555\"/>"
            svg += "<text class=\"tick\" x=\"\(f(px(t.value)))\" y=\"\(f(h - bottom + 17))\">\(HTML.escape(t.label))</text>"
        }
        svg += "</g>\n<g class=\"y-ticks\" font-size=\"11\" text-anchor=\"end\">"
        for t in y.ticks {
            svg += "<line x1=\"\(f(left - 5))\" y1=\"\(f(py(t.value)))\" x2=\"\(f(left))\" y2=\"\(f(py(t.value)))\" stroke=\"#555\"/>"
            svg += "<text class=\"tick\" x=\"\(f(left - 8))\" y=\"\(f(py(t.value) + 4))\">\(HTML.escape(t.label))</text>"
        }
        svg += "</g>\n"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(h - 8))\" font-size=\"13\" text-anchor=\"middle\">\(HTML.escape(x.label))\(x.log ? " (log scale)" : "")</text>\n"
        svg += "<text transform=\"translate(15 \(f(top + plotH / 2))) rotate(-90)\" font-size=\"13\" text-anchor=\"middle\">\(HTML.escape(y.label))</text>\n"
        svg += "<g class=\"data\">\n"
        for s in series {
            let pts = s.points.filter { !x.log || $0.0 > 0 }
            switch s.style {
            case .line:
                let line = pts.map { "\(f(px(clampX($0.0)))),\(f(py($0.1)))" }.joined(separator: " ")
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2.2\" stroke-linejoin=\"round\" points=\"\(line)\"><title>\(HTML.escape(s.name))</title></polyline>\n"
            case .filledSteps:
                // Each point is a bin (its centre, its height); bins are equal and contiguous.
                guard pts.count > 0 else { continue }
                let half = pts.count > 1 ? (pts[1].0 - pts[0].0) / 2 : 0.01
                var outline = ["\(f(px(clampX(pts[0].0 - half)))),\(f(py(y.lo)))"]
                for p in pts {
                    outline.append("\(f(px(clampX(p.0 - half)))),\(f(py(p.1)))")
                    outline.append("\(f(px(clampX(p.0 + half)))),\(f(py(p.1)))")
                }
                outline.append("\(f(px(clampX(pts[pts.count - 1].0 + half)))),\(f(py(y.lo)))")
                let joined = outline.joined(separator: " ")
                svg += "<polygon fill=\"\(s.color)\" fill-opacity=\"0.22\" stroke=\"none\" points=\"\(joined)\"/>"
                svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\" points=\"\(joined)\"><title>\(HTML.escape(s.name))</title></polyline>\n"
            }
            if s.dots {
                for p in pts { svg += "<circle cx=\"\(f(px(clampX(p.0))))\" cy=\"\(f(py(p.1)))\" r=\"2.8\" fill=\"\(s.color)\"/>" }
                svg += "\n"
            }
        }
        svg += "</g>\n<g class=\"markers\" font-size=\"11\">"
        for m in markers where m.x >= x.lo && m.x <= x.hi {
            svg += "<line x1=\"\(f(px(m.x)))\" y1=\"\(f(top))\" x2=\"\(f(px(m.x)))\" y2=\"\(f(h - bottom))\" stroke=\"\(m.color)\" stroke-width=\"1.8\" stroke-dasharray=\"\(m.dash)\"><title>\(HTML.escape(m.label))</title></line>"
        }
        return svg + "</g></svg>\n"
    }
}
