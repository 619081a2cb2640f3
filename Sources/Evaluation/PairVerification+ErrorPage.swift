import Foundation

extension PairVerification {
    /// pair-errors.html: the misclassified pairs, both faces side by side, the score and both paths.
    /// Each image records whether it loaded (`data-loaded` 1 or 0; one that did not is
    /// outlined in red, its path as the alt text).
    ///
    /// - Parameters:
    ///   - imageRoot: the folder the stored paths are relative to, as a link from the folder
    ///     the page is written in (`../images`, an absolute path, or a URL); each `<img>`'s
    ///     `src` is it, a `/`, and the path (absolute paths are linked as they are). Nil or
    ///     empty: the page shows the paths only and says that no image root was given.
    ///   - rootNote: how the page names the image root to its reader (e.g. the folder given on
    ///     the command line); defaults to `imageRoot`.
    ///   - reportLink: a link back to the report the page belongs to.
    public func errorPage(imageRoot: String? = nil, rootNote: String? = nil, reportLink: String? = nil) -> String {
        let root = imageRoot.flatMap { $0.isEmpty ? nil : $0 }
        var html = """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>magfleet: misclassified pairs</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td{border:1px solid #ccc;padding:6px;vertical-align:top}
            img{width:112px;height:112px;object-fit:cover;background:#eee;display:block}.p{font-size:11px;color:#555;max-width:240px;word-break:break-all}
            .note{border:1px solid #e0b000;background:#fff8dc;padding:0.5em 1em}
            img.missing{outline:2px solid #d62728;color:#d62728;font-size:11px}</style>
            </head><body>\(reportLink.map { "<p><a href=\"\(HTML.escape($0))\">&larr; back to the report</a></p>" } ?? "")<h1>Misclassified pairs</h1>
            <p>Threshold \(HTML.number(Double(threshold), 4)) (same when score &gt;= threshold); \(errors.count) errors:
            \(falseNegatives) false negatives, \(falsePositives) false positives, out of \(scored) scored pairs (\(missing.count) skipped: path not in store).
            Largest errors first (furthest from the threshold).</p>

            """
        if let root {
            html += "<p class=\"images\">Images: the stored paths under <code>\(HTML.escape(rootNote ?? root))</code>.</p>\n"
        } else {
            html += "<p class=\"note\" id=\"no-image-root\">No images shown: the stored paths are relative to an image root that was not given. "
                + "Pass <code>--root DIR</code> (the folder the image list's paths are relative to, extract's <code>--root</code>) to see the faces.</p>\n"
        }
        html += "<table><tr><th>#</th><th>Actual</th><th>Score</th><th>Image A</th><th>Image B</th></tr>\n"
        for (k, e) in errors.enumerated() {
            html += "<tr class=\"pair\"><td>\(k + 1)</td><td>\(e.same ? "same (FN)" : "different (FP)")</td><td>\(HTML.number(Double(e.score), 4))</td>"
            for path in [e.a, e.b] {
                html += "<td>"
                if let root {
                    html += "<img src=\"\(HTML.escape(Self.link(to: path, under: root)))\" alt=\"\(HTML.escape(path))\" "
                        + "onload=\"this.dataset.loaded=1\" onerror=\"this.dataset.loaded=0;this.className='missing'\">"
                }
                html += "<div class=\"p\">\(HTML.escape(path))</div></td>"
            }
            html += "</tr>\n"
        }
        return html + "</table></body></html>\n"
    }

    /// The link to a stored `path` under `root`: `root/path`, percent-encoded for a URL path
    /// (`#`, `?`, `%` and spaces in names are kept as names); an absolute path stays as it is.
    static func link(to path: String, under root: String) -> String {
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        if path.hasPrefix("/") { return encoded }
        return (root.hasSuffix("/") ? root : root + "/") + encoded
    }

    /// `target` as a relative link from `directory` (both file URLs): `../images` for
    /// `out/report` and `out/images`. Symbolic links are resolved first, so that the link
    /// works from where the page is.
    public static func relativeLink(from directory: URL, to target: URL) -> String {
        let from = directory.standardizedFileURL.resolvingSymlinksInPath().pathComponents
        let to = target.standardizedFileURL.resolvingSymlinksInPath().pathComponents
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let parts = Array(repeating: "..", count: from.count - common) + to[common...]
        let link = parts.isEmpty ? "." : parts.joined(separator: "/")
        return link.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? link
    }
}
