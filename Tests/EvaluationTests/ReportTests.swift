import Foundation
import Testing
import TestSupport
@testable import Evaluation

@Suite struct ReportTests {
    static func report() throws -> Report {
        let (table, meta) = try Fixture.table()
        var options = ReduceOptions()
        options.pairs = try Fixture.pairs(meta)
        var head = HeadOptions()
        head.epochs = 3
        options.head = head
        return try Reducer.run(table, source: "fixture", options: options).report
    }

    @Test func markdownKeepsTheSeedLayout() throws {
        let md = try Self.report().markdown()
        for heading in [
            "# MagFace Baseline Results", "## Dataset Statistics", "## 1. Embedding-Based Verification Metrics", "### ROC & Accuracy",
            "### TAR @ FAR", "### Score Distribution", "### Identification", "## 2. Pair Verification", "### Confusion Matrix",
            "### Metrics", "## 3. Classification Head Pipeline", "### Training", "### Results", "### Inference on", "## Summary Table",
            "| Embedding Similarity | Verification | ROC-AUC |", "| Classification Head | Identity | Top-1 Accuracy |",
        ] { #expect(md.contains(heading), "missing \(heading)") }
    }

    /// report.md's headings (outside code blocks), in order.
    static func headings(_ markdown: String) -> [String] {
        var out: [String] = [], fenced = false
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { fenced.toggle() } else if !fenced, line.hasPrefix("#") { out.append(String(line)) }
        }
        return out
    }

    /// report.md's sections are the seed's (Fixtures/seed_sections.txt, the headings of
    /// /work/shared/seed/magface-baseline-results.md by Tests/Fixtures/gen_seed_sections.py), in
    /// the seed's order, with two sections added in section 1 and two headings worded for
    /// this tool: the seed's pair section names its script, and its inference heading its 100k.
    @Test func sectionsAreTheSeeds() throws {
        let seed = try String(contentsOf: Fixture.url("seed_sections.txt"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(seed.count == 17 && seed.first == "# MagFace Baseline Results" && seed.last == "## Commands to Reproduce")
        var expected: [String] = []
        for heading in seed {
            switch heading {
            case "## 2. Pair Verification (visualize_errors.py)": expected.append("## 2. Pair Verification")
            case "### Inference on 100k Images": expected.append("### Inference on 600 Images")
            default: expected.append(heading)
            }
            if heading == "### Identification" {
                expected += ["### MegaFace Protocol (rank-1 with distractors)", "### MagFace Quality: Error versus Reject (lowest norm first)"]
            }
        }
        var report = try Self.report()
        report.files = [.init(name: "report.md", description: "this report")]
        report.commands = ["magfleet reduce fixture --out out"]
        let md = report.markdown()
        #expect(Self.headings(md) == expected)
        for line in ["**Date**: ", "**Dataset**: `fixture` (600 images)", "**Model**: not recorded", "| `report.md` | this report |", "```bash\nmagfleet reduce fixture --out out\n```"] {
            #expect(md.contains(line), "\(line)")
        }
        let html = report.html()
        #expect(html.contains("<pre><code>magfleet reduce fixture --out out\n</code></pre>") && !html.contains("```"))
    }

    @Test func megafaceSweepHasEveryPowerOfTen() {
        #expect(Reducer.powersOfTen(below: 996_470) == [10, 100, 1000, 10000, 100_000])
        #expect(Reducer.powersOfTen(below: 1_000_000) == [10, 100, 1000, 10000, 100_000])
        #expect(Reducer.powersOfTen(below: 1_000_001) == [10, 100, 1000, 10000, 100_000, 1_000_000])
        #expect(Reducer.powersOfTen(below: 10).isEmpty)
    }

    @Test func headSectionShowsTheChosenAndTheLastEpoch() throws {
        let report = try Self.report()
        let h = try #require(report.head)
        let md = report.markdown()
        #expect(md.contains("Chosen epoch: **\(h.bestEpoch)** of 3, by \(HeadCheckpointRule.description)"), "\(md)")
        if h.bestEpoch != 3 { #expect(md.contains("Count (epoch 3, last)")) }
    }

    @Test func jsonHasEveryNumber() throws {
        let data = try JSONEncoder().encode(try Self.report())
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["verification", "identification", "rejectCurve", "pairs", "head", "dataset"] { #expect(object[key] != nil, "\(key)") }
    }

    /// The `<svg ...>` start tag around `needle`.
    static func openingTag(in dom: String, containing needle: String) -> String? {
        guard let hit = dom.range(of: needle), let open = dom.range(of: "<svg", options: .backwards, range: dom.startIndex..<hit.lowerBound),
              let close = dom.range(of: ">", range: hit.upperBound..<dom.endIndex) else { return nil }
        return String(dom[open.lowerBound..<close.upperBound])
    }

    /// The whole `<svg id="plot-ID">…</svg>` element.
    static func plot(_ id: String, in dom: String) -> String? {
        guard let start = dom.range(of: "<svg class=\"plot\" id=\"plot-\(id)\""), let end = dom.range(of: "</svg>", range: start.upperBound..<dom.endIndex) else { return nil }
        return String(dom[start.lowerBound..<end.upperBound])
    }

    /// The labels of one axis's ticks (`g.x-ticks` or `g.y-ticks`) in a plot.
    static func tickLabels(_ axis: String, in svg: String) -> [String] {
        guard let g = svg.range(of: "<g class=\"\(axis)\""), let end = svg.range(of: "</g>", range: g.upperBound..<svg.endIndex) else { return [] }
        return svg[g.upperBound..<end.lowerBound].matches(of: /<text class="tick"[^>]*>([^<]*)<\/text>/).map { String($0.1) }
    }

    /// Opens report.html in headless Chromium and checks what a reader sees: the four plots
    /// laid out with their data drawn (the page's script records rendered sizes in the DOM),
    /// a labelled tick at every FAR decade, the histogram over both distributions with the
    /// threshold marked, the table of contents, the link to pair-errors.html, and no markdown
    /// left as text.
    @Test(.enabled(if: HeadlessChromium.path != nil, "needs the Debian package chromium"), .timeLimit(.minutes(1)))
    func plotsRenderInHeadlessChromium() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let html = dir.appendingPathComponent("report.html")
        let report = try Self.report()
        try Data(report.html().utf8).write(to: html)
        let dom = try HeadlessChromium.dumpDOM(html, profile: dir.appendingPathComponent("profile"))
        for id in ["roc", "histogram", "cmc", "reject"] {
            let tag = try #require(Self.openingTag(in: dom, containing: "id=\"plot-\(id)\""), "plot \(id) missing from the DOM")
            let width = tag.firstMatch(of: /data-rendered-width="(\d+)"/).map { Int($0.1)! } ?? 0
            let data = tag.firstMatch(of: /data-data-width="(\d+)"/).map { Int($0.1)! } ?? 0
            #expect(width >= 400, "plot \(id) rendered \(width) px wide")
            #expect(data > 50, "plot \(id) drew data \(data) px wide")
        }
        // The ROC: a labelled tick and a gridline at every decade, from the smallest FAR one
        // negative pair makes up to 1; TAR in steps of 0.2.
        let roc = try #require(Self.plot("roc", in: dom))
        let k0 = Int(floor(log10(1 / Double(report.verification.negativePairs))))
        let decades = (k0...0).map { PlotAxis.decadeLabel($0) }
        #expect(Self.tickLabels("x-ticks", in: roc) == decades, "ROC x ticks")
        #expect(decades.contains("1e-4") && decades.contains("0.1") && decades.contains("1"))
        #expect(Self.tickLabels("y-ticks", in: roc) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(roc.matches(of: /<line [^>]*stroke="#dcdcdc"/).count == decades.count + 6, "one gridline per tick")
        // The histogram: both distributions inside its x range, the threshold drawn and named.
        let histogram = try #require(Self.plot("histogram", in: dom))
        let xs = Self.tickLabels("x-ticks", in: histogram).compactMap(Double.init)
        let v = report.verification
        let lowest = Double(min(v.negativeStats.min, v.positiveStats.min)), highest = Double(max(v.negativeStats.max, v.positiveStats.max))
        #expect((xs.first ?? 1) <= lowest && (xs.last ?? -1) >= highest, "histogram x ticks \(xs) miss scores in \(lowest)...\(highest)")
        #expect(histogram.contains("genuine (same identity)") && histogram.contains("impostor (different identities)"))
        let threshold = try #require(v.bestThreshold)
        #expect(histogram.contains("<title>best-accuracy threshold \(String(format: "%.3f", Double(threshold)))</title>"))
        #expect(histogram.contains("<title>pair threshold 0.400</title>"))
        // The table of contents: a link to every section heading, and the errors page.
        let nav = try #require(dom.firstMatch(of: /<nav class="toc"[\s\S]*?<\/nav>/).map { String($0.0) })
        let h2 = dom.matches(of: /<h2 id="([^"]+)">([^<]*)<\/h2>/).map { (String($0.1), String($0.2)) }
        #expect(h2.map(\.1) == ["Dataset Statistics", "1. Embedding-Based Verification Metrics", "2. Pair Verification", "3. Classification Head Pipeline", "Summary Table", "Files Generated", "Commands to Reproduce"])
        for (id, title) in h2 { #expect(nav.contains("<a href=\"#\(id)\">\(title)</a>"), "contents lack \(title)") }
        #expect(nav.contains("<a href=\"#plots\">Plots</a>") && dom.contains("<h3 id=\"plots\">"))
        #expect(nav.contains("<a href=\"pair-errors.html\">"))
        #expect(dom.contains("<a href=\"pair-errors.html\">pair-errors.html</a>"), "section 2 links the errors page")
        // No markdown left as text (the head's note was `*Note: …*`).
        let text = HeadlessChromium.visibleText(dom)
        for literal in ["*", "`", "](", "##"] { #expect(!text.contains(literal), "literal \(literal) on the page") }
        #expect(dom.contains("<em>Note: Low confidence expected on distractors (different identities)</em>"))
    }

    @Test func axesTickAtDecadesAndRoundSteps() {
        let far = PlotAxis.decades("FAR", from: 1.0 / 6600, to: 1)
        #expect(far.lo == 1e-4 && far.hi == 1)
        #expect(far.ticks.map(\.label) == ["1e-4", "1e-3", "1e-2", "0.1", "1"])
        #expect(far.minor.count == 4 * 8)
        #expect(PlotAxis.decades("FAR", from: 1e-6, to: 0.622).ticks.map(\.label) == ["1e-6", "1e-5", "1e-4", "1e-3", "1e-2", "0.1", "1"])
        let score = PlotAxis.linear("score", from: 0.83, to: 0.998, count: 8)
        #expect(score.ticks.map(\.label) == ["0.80", "0.85", "0.90", "0.95", "1.00"])
        #expect(PlotAxis.linear("score", from: -0.41, to: 0.86, count: 8).ticks.map(\.label) == ["-0.6", "-0.4", "-0.2", "0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(PlotAxis.linear("rate", from: 0, to: 1).ticks.map(\.label) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
    }

    @Test func inlineMarkdownBecomesHTML() {
        #expect(Report.inline("*Note: low* and **bold** `a*b` [page](pair-errors.html) 3 * 4") ==
                "<em>Note: low</em> and <b>bold</b> <code>a*b</code> <a href=\"pair-errors.html\">page</a> 3 * 4")
        #expect(Report.inline("**RANDOM WEIGHTS: <x>**") == "<b>RANDOM WEIGHTS: &lt;x&gt;</b>")
    }

    /// report.json's `model` is an object; the summary table (what `reduce` prints) and the
    /// model line say RANDOM WEIGHTS when they were.
    @Test(arguments: [true, false])
    func modelIsAnObjectAndRandomWeightsAreNamed(random: Bool) throws {
        var report = try Self.report()
        let fingerprint = String(repeating: "0123456789abcdef", count: 4)
        report.model = .init(fingerprint: fingerprint, architecture: "iresnet100", preset: "magface", flip: false, randomWeights: random)
        let data = try JSONEncoder().encode(report)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try #require(object["model"] as? [String: Any])
        #expect(model["fingerprint"] as? String == fingerprint)
        #expect(model["architecture"] as? String == "iresnet100")
        #expect(model["preset"] as? String == "magface")
        #expect(model["random_weights"] as? Bool == random)
        #expect(String(decoding: data, as: UTF8.self).contains("\"random_weights\":\(random)"), "a JSON boolean")
        #expect(object["version"] as? Int == 2)
        #expect(try JSONDecoder().decode(Report.self, from: data).model == report.model)
        let table = report.summaryTable()
        #expect(table.contains("RANDOM WEIGHTS") == random, "\(table)")
        if random { #expect(table.split(separator: "\n")[2] == "| Model | iresnet100 | Weights | **RANDOM WEIGHTS: not a face recognizer** |") }
        #expect(report.markdown().contains("**Model**: iresnet100, fingerprint `\(fingerprint)`, preprocessing magface; \(random ? "**RANDOM WEIGHTS" : "trained weights")"))
    }

    /// Links from the page's folder to the image root, and to each stored path under it.
    @Test func errorPageLinksImagesUnderTheRoot() throws {
        let link = PairVerification.relativeLink
        #expect(link(URL(fileURLWithPath: "/runs/demo/report"), URL(fileURLWithPath: "/runs/demo/images")) == "../images")
        #expect(link(URL(fileURLWithPath: "/runs/a/b/report"), URL(fileURLWithPath: "/data/mega face")) == "../../../../data/mega%20face")
        #expect(link(URL(fileURLWithPath: "/runs/out"), URL(fileURLWithPath: "/runs/out/img")) == "img")
        #expect(link(URL(fileURLWithPath: "/runs/out"), URL(fileURLWithPath: "/runs/out")) == ".")
        #expect(PairVerification.link(to: "id 3/#1?.jpg", under: "../images") == "../images/id%203/%231%3F.jpg")
        #expect(PairVerification.link(to: "/abs/a.jpg", under: "../images") == "/abs/a.jpg")
        let p = try #require(try Self.report().pairs)
        let error = try #require(p.errors.first)
        let with = p.errorPage(imageRoot: "../images", rootNote: "/data/images", reportLink: "report.html")
        #expect(with.contains("<img src=\"../images/\(error.a)\""))
        #expect(with.contains("<a href=\"report.html\">") && with.contains("<code>/data/images</code>"))
        #expect(!with.contains("no-image-root"))
        let without = p.errorPage()
        #expect(!without.contains("<img") && without.contains("id=\"no-image-root\"") && without.contains("--root DIR"))
        #expect(without.contains(error.a))
    }
}
