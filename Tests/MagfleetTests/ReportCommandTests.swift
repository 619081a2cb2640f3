import Base
import FeatureStore
import Foundation
import Imaging
import Testing
import TestSupport

/// `magfleet reduce` on a random-weight store whose images exist: what it prints, what
/// report.json records about the model, and pair-errors.html with and without --root,
/// opened in headless Chromium.
@Suite struct ReportCommandTests {
    /// 4 identities x 6 images and 6 distractors, dim 8, noisy enough that pairs are
    /// misclassified at 0.4; one folder has a space and a `#` in its name. Each path is a
    /// real JPEG under `images/`.
    static func makeStore(in dir: URL) throws -> String {
        let images = dir.appendingPathComponent("images")
        let folders = ["ana", "bo b", "cy#3", "dee"]
        var rng = SeededGenerator(seed: 19)
        var rows = StoreRows()
        let centres = folders.map { _ in (0..<8).map { _ in Float.random(in: -1...1, using: &rng) } }
        func add(_ path: String, label: Int64, centre: [Float]?) throws {
            rows.paths.append(path)
            rows.labels.append(label)
            rows.statuses.append(.ok)
            for d in 0..<8 { rows.embeddings.append((centre?[d] ?? 0) + Float.random(in: -0.9...0.9, using: &rng)) }
            let url = images.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let shade = UInt8(40 + rows.count * 6)
            try Data(try JPEGEncoder.encode(BGRImage(width: 16, height: 16, pixels: [UInt8](repeating: shade, count: 16 * 16 * 3)))).write(to: url)
        }
        for (label, folder) in folders.enumerated() {
            for n in 0..<6 { try add("\(folder)/\(n).jpg", label: Int64(label), centre: centres[label]) }
        }
        for n in 0..<6 { try add("distractors/\(n).jpg", label: -1, centre: nil) }
        let provenance = StoreProvenance(
            modelFingerprint: String(repeating: "5e", count: 32), architecture: "iresnet18", embeddingDim: 8,
            preprocessingPreset: "magface", flip: false, imageListSHA256: "", toolVersion: "test", randomWeights: true, labelNames: folders)
        let store = dir.appendingPathComponent("features.h5")
        let writer = try FeatureStoreWriter(url: store, provenance: provenance)
        try writer.append(rows)
        try writer.finish()
        return store.path
    }

    @Test(.timeLimit(.minutes(2)))
    func reduceNamesRandomWeightsAndTheErrorsPageShowsTheFaces() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-cli-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Self.makeStore(in: dir)
        let out = dir.appendingPathComponent("run/report")
        let r = try MagfleetProcess.run(["reduce", store, "--out", out.path, "--root", dir.appendingPathComponent("images").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| Model | iresnet18 | Weights | **RANDOM WEIGHTS: not a face recognizer** |"), "\(r.stdout)")
        #expect(!r.stderr.contains("not found under --root"), "\(r.stderr)")

        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any])
        let model = try #require(json["model"] as? [String: Any])
        #expect(model["fingerprint"] as? String == String(repeating: "5e", count: 32))
        #expect(model["architecture"] as? String == "iresnet18" && model["preset"] as? String == "magface")
        #expect(model["random_weights"] as? Bool == true)
        let pairs = try #require(json["pairs"] as? [String: Any])
        let errors = try #require(pairs["errors"] as? [[String: Any]])
        try #require(errors.count > 0, "the store should give misclassified pairs")

        // Every face on the page loads, through links relative to where the page is.
        let page = try String(contentsOf: out.appendingPathComponent("pair-errors.html"), encoding: .utf8)
        #expect(page.contains("src=\"../../images/"))
        #expect(page.contains("<a href=\"report.html\">"))
        if HeadlessChromium.path != nil {
            let dom = try HeadlessChromium.dumpDOM(out.appendingPathComponent("pair-errors.html"), profile: dir.appendingPathComponent("profile"))
            let images = dom.matches(of: /<img [^>]*>/).map { String($0.0) }
            #expect(images.count == 2 * errors.count)
            let unloaded = images.filter { !$0.contains("data-loaded=\"1\"") }
            #expect(unloaded.isEmpty, "images that did not load: \(unloaded.prefix(3))")
        }

        // Without --root the page says so and draws no broken images.
        let bare = dir.appendingPathComponent("bare")
        let b = try MagfleetProcess.run(["reduce", store, "--out", bare.path])
        #expect(b.status == 0, "\(b.stderr)")
        #expect(b.stderr.contains("pass --root DIR"), "\(b.stderr)")
        let plain = try String(contentsOf: bare.appendingPathComponent("pair-errors.html"), encoding: .utf8)
        #expect(!plain.contains("<img") && plain.contains("id=\"no-image-root\""))

        let missing = try MagfleetProcess.run(["reduce", store, "--out", bare.path, "--root", dir.appendingPathComponent("nowhere").path])
        #expect(missing.status != 0 && missing.stderr.contains("is not a directory"), "\(missing.stderr)")
    }
}
