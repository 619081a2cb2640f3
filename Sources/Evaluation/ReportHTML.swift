import Foundation

extension Report {
    /// report.html: report.md's content as HTML plus four inline SVG plots (ROC on a log-FAR
    /// axis, score histograms, CMC, error versus reject). No script or style is fetched; a
    /// small inline script records each plot's rendered size in `data-rendered-width`.
    public func html() -> String {
        var body = ""
        var inTable = false, headerDone = false
        for raw in markdown().split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { inline(String($0).trimmingCharacters(in: .whitespaces)) }
                if !inTable { body += "<table>\n"; inTable = true; headerDone = false }
                if cells.allSatisfy({ $0.allSatisfy { $0 == "-" } && !$0.isEmpty }) { headerDone = true; continue }
                let tag = headerDone ? "td" : "th"
                body += "<tr>" + cells.map { "<\(tag)>\($0)</\(tag)>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if line.hasPrefix("### ") { body += "<h3>\(inline(String(line.dropFirst(4))))</h3>\n" } else if line.hasPrefix("## ") {
                let title = String(line.dropFirst(3))
                body += "<h2>\(inline(title))</h2>\n"
                if title.hasPrefix("2.") == false, title.hasPrefix("1.") { body += plots() }
            } else if line.hasPrefix("# ") { body += "<h1>\(inline(String(line.dropFirst(2))))</h1>\n" } else if line == "---" { body += "<hr>\n" } else if !line.isEmpty { body += "<p>\(inline(line))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>magfleet report</title>
            <style>
            body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
            table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}
            .plots{display:flex;flex-wrap:wrap;gap:12px}.plots svg{border:1px solid #ddd;background:#fff}
            </style></head><body>
            \(body)
            <script>
            for (const s of document.querySelectorAll('svg.plot')) {
              const r = s.getBoundingClientRect(), b = s.querySelector('.data').getBBox();
              s.setAttribute('data-rendered-width', Math.round(r.width));
              s.setAttribute('data-data-width', Math.round(b.width));
            }
            </script>
            </body></html>

            """
    }

    private func inline(_ s: String) -> String {
        var out = HTML.escape(s)
        while let r = out.range(of: "**"), let e = out.range(of: "**", range: r.upperBound..<out.endIndex) {
            out.replaceSubrange(r.lowerBound..<e.upperBound, with: "<b>" + out[r.upperBound..<e.lowerBound] + "</b>")
        }
        while let r = out.range(of: "`"), let e = out.range(of: "`", range: r.upperBound..<out.endIndex) {
            out.replaceSubrange(r.lowerBound..<e.upperBound, with: "<code>" + out[r.upperBound..<e.lowerBound] + "</code>")
        }
        return out
    }

    func plots() -> String {
        let v = verification
        let roc = v.roc.filter { $0[0] > 0 }.map { (max($0[0], 1e-7), $0[1]) }
        func density(_ s: ScoreStats) -> [(Double, Double)] {
            let total = Double(max(s.histogram.reduce(0, +), 1))
            return s.histogram.enumerated().map { ((ScoreStats.edge($0.offset) + ScoreStats.edge($0.offset + 1)) / 2, Double($0.element) / total) }
        }
        let cmc = identification.cmc.enumerated().map { (Double($0.offset + 1), $0.element) }
        let rank1Error = rejectCurve.map { ($0.rejected, 1 - $0.rank1) }
        let fnmr = rejectCurve.map { ($0.rejected, $0.fnmrAtFMR1e3) }
        let verificationError = rejectCurve.map { ($0.rejected, 1 - $0.bestAccuracy) }
        return "<div class=\"plots\">\n"
            + SVGPlot.lines(id: "roc", title: "ROC (log FAR)", xLabel: "FAR", yLabel: "TAR", logX: true, series: [("ROC", "#1f77b4", roc)])
            + SVGPlot.lines(id: "histogram", title: "Score histograms", xLabel: "cosine score", yLabel: "fraction of pairs", logX: false, series: [("positives", "#2ca02c", density(v.positiveStats)), ("negatives", "#d62728", density(v.negativeStats))])
            + SVGPlot.lines(id: "cmc", title: "CMC", xLabel: "rank", yLabel: "identification rate", logX: false, series: [("CMC", "#9467bd", cmc)])
            + SVGPlot.lines(id: "reject", title: "Error versus reject (lowest norm)", xLabel: "fraction rejected", yLabel: "error", logX: false, series: [("rank-1 error", "#ff7f0e", rank1Error), ("FNMR@FMR1e-3", "#1f77b4", fnmr), ("1 - best accuracy", "#8c564b", verificationError)])
            + "</div>\n"
    }
}

/// Inline SVG line charts: fixed size, axes with min/max ticks, a legend.
enum SVGPlot {
    static func lines(id: String, title: String, xLabel: String, yLabel: String, logX: Bool, series: [(String, String, [(Double, Double)])]) -> String {
        let w = 460.0, h = 300.0, left = 60.0, right = 15.0, top = 30.0, bottom = 45.0
        let xs = series.flatMap { $0.2.map { logX ? log10($0.0) : $0.0 } }, ys = series.flatMap { $0.2.map(\.1) }
        var x0 = xs.min() ?? 0, x1 = xs.max() ?? 1, y0 = min(ys.min() ?? 0, 0), y1 = ys.max() ?? 1
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        func px(_ x: Double) -> Double { left + ((logX ? log10(x) : x) - x0) / (x1 - x0) * (w - left - right) }
        func py(_ y: Double) -> Double { h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func tick(_ v: Double) -> String { abs(v) >= 1e-3 || v == 0 ? String(format: "%.3g", v) : String(format: "%.0e", v) }
        var svg = "<svg class=\"plot\" id=\"plot-\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" viewBox=\"0 0 \(Int(w)) \(Int(h))\">\n"
        svg += "<text x=\"\(f(w / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">\(HTML.escape(title))</text>\n"
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(h - bottom))\" x2=\"\(f(w - right))\" y2=\"\(f(h - bottom))\" stroke=\"#333\"/><line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(h - bottom))\" stroke=\"#333\"/>\n"
        let xt0 = logX ? pow(10, x0) : x0, xt1 = logX ? pow(10, x1) : x1
        svg += "<text x=\"\(f(left))\" y=\"\(f(h - bottom + 15))\" font-size=\"10\" text-anchor=\"middle\">\(tick(xt0))</text><text x=\"\(f(w - right))\" y=\"\(f(h - bottom + 15))\" font-size=\"10\" text-anchor=\"end\">\(tick(xt1))</text>\n"
        svg += "<text x=\"\(f(left - 4))\" y=\"\(f(h - bottom))\" font-size=\"10\" text-anchor=\"end\">\(tick(y0))</text><text x=\"\(f(left - 4))\" y=\"\(f(top + 8))\" font-size=\"10\" text-anchor=\"end\">\(tick(y1))</text>\n"
        svg += "<text x=\"\(f((left + w - right) / 2))\" y=\"\(f(h - 8))\" font-size=\"12\" text-anchor=\"middle\">\(HTML.escape(xLabel))\(logX ? " (log scale)" : "")</text>\n"
        svg += "<text transform=\"translate(14 \(f((top + h - bottom) / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(HTML.escape(yLabel))</text>\n<g class=\"data\">\n"
        for (k, s) in series.enumerated() {
            let pts = s.2.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(s.1)\" stroke-width=\"1.8\" points=\"\(pts)\"><title>\(HTML.escape(s.0))</title></polyline>\n"
            svg += "<text x=\"\(f(w - right - 4))\" y=\"\(f(top + 14 + Double(k) * 14))\" font-size=\"11\" text-anchor=\"end\" fill=\"\(s.1)\">\(HTML.escape(s.0))</text>\n"
        }
        return svg + "</g></svg>\n"
    }
}
