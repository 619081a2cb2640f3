import Foundation

extension Report {
    /// report.html: report.md's content as HTML, with a table of contents, a link to
    /// pair-errors.html (when pairs ran) and four inline SVG plots (ROC on a log-FAR axis,
    /// score histograms with the thresholds, CMC, error versus reject). No script or style is
    /// fetched; a small inline script records each plot's rendered size in `data-rendered-width`.
    public func html() -> String {
        var body = ""
        var toc: [(level: Int, id: String, title: String)] = []
        var ids = Set<String>()
        func anchor(_ title: String) -> String {
            var slug = String(title.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
            while slug.contains("--") { slug = slug.replacingOccurrences(of: "--", with: "-") }
            slug = slug.trimmingCharacters(in: CharacterSet(charactersIn: "-"))
            var id = slug.isEmpty ? "section" : slug, n = 2
            while ids.contains(id) { id = "\(slug)-\(n)"; n += 1 }
            ids.insert(id)
            return id
        }
        func heading(_ level: Int, _ title: String) {
            let id = anchor(title)
            toc.append((level, id, title))
            body += "<h\(level) id=\"\(id)\">\(Self.inline(title))</h\(level)>\n"
        }
        let tocMark = "<!--toc-->"
        var inTable = false, headerDone = false, inCode = false
        for raw in markdown().split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.hasPrefix("```") {
                body += inCode ? "</code></pre>\n" : "<pre><code>"
                inCode.toggle()
                continue
            }
            if inCode {
                body += HTML.escape(line) + "\n"
                continue
            }
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { String($0).trimmingCharacters(in: .whitespaces) }
                if !inTable { body += "<table>\n"; inTable = true; headerDone = false }
                if cells.allSatisfy({ $0.allSatisfy { $0 == "-" } && !$0.isEmpty }) { headerDone = true; continue }
                let tag = headerDone ? "td" : "th"
                body += "<tr>" + cells.map { "<\(tag)>\(Self.inline($0))</\(tag)>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if line.hasPrefix("### ") {
                heading(3, String(line.dropFirst(4)))
            } else if line.hasPrefix("## ") {
                if toc.isEmpty { body += tocMark }
                let title = String(line.dropFirst(3))
                heading(2, title)
                if title.hasPrefix("1.") {
                    heading(3, "Plots")
                    body += plots()
                }
            } else if line.hasPrefix("# ") {
                body += "<h1>\(Self.inline(String(line.dropFirst(2))))</h1>\n"
            } else if line == "---" {
                body += "<hr>\n"
            } else if !line.isEmpty {
                body += "<p>\(Self.inline(line.trimmingCharacters(in: .whitespaces)))</p>\n"
            }
        }
        if inTable { body += "</table>\n" }
        var nav = "<nav class=\"toc\" id=\"contents\"><b>Contents</b>\n<ul>\n"
        var open = false
        for entry in toc {
            if entry.level == 2 {
                if open { nav += "</ul></li>\n" }
                nav += "<li><a href=\"#\(entry.id)\">\(Self.inline(entry.title))</a><ul>\n"
                open = true
            } else {
                nav += "<li><a href=\"#\(entry.id)\">\(Self.inline(entry.title))</a></li>\n"
            }
        }
        if open { nav += "</ul></li>\n" }
        if let p = pairs { nav += "<li><a href=\"pair-errors.html\">Misclassified pairs (pair-errors.html, \(HTML.count(p.errors.count)))</a></li>\n" }
        nav += "</ul></nav>\n"
        body = body.replacingOccurrences(of: tocMark, with: nav)
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>magfleet report</title>
            <style>
            body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
            table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}
            code{background:#f3f3f3;padding:0 3px;word-break:break-all}
            .toc{border:1px solid #ddd;background:#fafafa;padding:0.5em 1em;margin:1em 0}.toc ul{margin:0.2em 0;padding-left:1.4em}
            .toc>ul>li>ul{columns:2;font-size:0.92em}
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

    /// One line of report.md's inline markdown as HTML: `code`, **bold**, *emphasis* and
    /// [text](link); everything else is escaped text.
    static func inline(_ s: String) -> String {
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            let rest = s[i...]
            if rest.hasPrefix("`"), let close = s[s.index(after: i)...].firstIndex(of: "`") {
                out += "<code>" + HTML.escape(String(s[s.index(after: i)..<close])) + "</code>"
                i = s.index(after: close)
            } else if rest.hasPrefix("**"), let close = s.range(of: "**", range: s.index(i, offsetBy: 2)..<s.endIndex) {
                out += "<b>" + inline(String(s[s.index(i, offsetBy: 2)..<close.lowerBound])) + "</b>"
                i = close.upperBound
            } else if rest.hasPrefix("*"), rest.dropFirst().first.map({ $0 != " " && $0 != "*" }) == true,
                      let close = s[s.index(after: i)...].firstIndex(of: "*"), s[s.index(before: close)] != " " {
                out += "<em>" + inline(String(s[s.index(after: i)..<close])) + "</em>"
                i = s.index(after: close)
            } else if rest.hasPrefix("["), let mid = s.range(of: "](", range: i..<s.endIndex),
                      let close = s[mid.upperBound...].firstIndex(of: ")") {
                out += "<a href=\"\(HTML.escape(String(s[mid.upperBound..<close])))\">" + inline(String(s[s.index(after: i)..<mid.lowerBound])) + "</a>"
                i = s.index(after: close)
            } else {
                out += HTML.escape(String(s[i]))
                i = s.index(after: i)
            }
        }
        return out
    }
}
