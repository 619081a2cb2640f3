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

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Opens report.html in headless Chromium and checks that the four plots were laid out
    /// and their data drawn (the page's script records rendered sizes in the DOM).
    @Test(.enabled(if: chromium != nil, "needs the Debian package chromium"), .timeLimit(.minutes(1)))
    func plotsRenderInHeadlessChromium() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let html = dir.appendingPathComponent("report.html")
        try Data(try Self.report().html().utf8).write(to: html)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.chromium!)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(dir.path)/profile", "--dump-dom", html.absoluteString]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let dom = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        for id in ["roc", "histogram", "cmc", "reject"] {
            let tag = try #require(Self.openingTag(in: dom, containing: "id=\"plot-\(id)\""), "plot \(id) missing from the DOM")
            let width = tag.firstMatch(of: /data-rendered-width="(\d+)"/).map { Int($0.1)! } ?? 0
            let data = tag.firstMatch(of: /data-data-width="(\d+)"/).map { Int($0.1)! } ?? 0
            #expect(width >= 400, "plot \(id) rendered \(width) px wide")
            #expect(data > 50, "plot \(id) drew data \(data) px wide")
        }
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
}
