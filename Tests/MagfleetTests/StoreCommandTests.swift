import Foundation
import Testing
import TestSupport

/// `magfleet import/info/query/export` on a small store, through the real binary.
@Suite struct StoreCommandTests {
    /// 40 rows of dim 6 in 4 directories (labels by directory), deterministic, never zero.
    static func featuresList() -> (text: String, vectors: [[Float]], paths: [String]) {
        var vectors: [[Float]] = [], paths: [String] = [], text = ""
        for i in 0..<40 {
            let v = (0..<6).map { j in Float(sin(Double(i * 7 + j * 3 + 1)) * Double(1 + i % 5)) }
            let path = "lfw/person_\(i % 4)/img_\(i).jpg"
            vectors.append(v); paths.append(path)
            text += path + " " + v.map { "\($0)" }.joined(separator: " ") + " \n"
        }
        return (text, vectors, paths)
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let a = a.map(Double.init), b = b.map(Double.init)
        return zip(a, b).map(*).reduce(0, +) / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
    }

    func makeStore() throws -> (dir: URL, store: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let list = dir.appendingPathComponent("features.list")
        try Data(Self.featuresList().text.utf8).write(to: list)
        let store = dir.appendingPathComponent("s.h5").path
        let result = try MagfleetProcess.run(["import", list.path, "--format", "features-list", "--out", store, "--labels-from-dirs", "--fingerprint", "fp-test"])
        #expect(result.status == 0, "\(result.stderr)")
        return (dir, store)
    }

    @Test func infoShowsCountsAndProvenance() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try MagfleetProcess.run(["info", store])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("rows        40 (ok 40, failed 0)"))
        #expect(result.stdout.contains("fingerprint fp-test"))
        #expect(result.stdout.contains("labels      4 names"))
        let json = try MagfleetProcess.run(["info", store, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["rows"] as? Int == 40)
        #expect((object["norms"] as? [String: Any])?["p50"] != nil)
    }

    @Test func queryByPathMatchesBruteForce() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, vectors, paths) = Self.featuresList()
        let result = try MagfleetProcess.run(["query", store, "--path", paths[5], "--top", "5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let neighbors = try #require(answers.first?["neighbors"] as? [[String: Any]])
        let expected = (0..<40).filter { $0 != 5 }.sorted { Self.cosine(vectors[5], vectors[$0]) > Self.cosine(vectors[5], vectors[$1]) }
        #expect(neighbors.map { $0["row"] as? Int } == expected.prefix(5).map { $0 })
        for n in neighbors {
            let row = try #require(n["row"] as? Int)
            // float32 scores vs Double reference: 1e-5.
            #expect(abs((n["score"] as? Double ?? 9) - Self.cosine(vectors[5], vectors[row])) < 1e-5)
            #expect(n["labelName"] as? String == "person_\(row % 4)")
        }

        // The label filter and a vector query; the table output names the paths.
        let filtered = try MagfleetProcess.run(["query", store, "--vector", vectors[5].map { "\($0)" }.joined(separator: ","), "--label", "person_2", "-k", "3"])
        #expect(filtered.status == 0, "\(filtered.stderr)")
        #expect(filtered.stdout.split(separator: "\n").filter { $0.contains(".jpg") }.allSatisfy { $0.contains("person_2") })
        #expect(filtered.stdout.split(separator: "\n").filter { $0.contains(".jpg") }.count == 3)
    }

    @Test func manyQueriesFromAFile() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (_, vectors, paths) = Self.featuresList()
        let file = dir.appendingPathComponent("q.txt")
        try Data("\(paths[1])\n#7\n\(vectors[9].map { "\($0)" }.joined(separator: " "))\n".utf8).write(to: file)
        let result = try MagfleetProcess.run(["query", store, "--queries", file.path, "-k", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        #expect(answers.count == 3)
        // A raw vector query finds its own row first (cosine 1).
        #expect(((answers[2]["neighbors"] as? [[String: Any]])?.first?["row"] as? Int) == 9)
    }

    @Test func clearErrors() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try MagfleetProcess.run(["query", store, "--path", "nope.jpg"])
        #expect(missing.status != 0 && missing.stderr.contains("nope.jpg"))
        let image = try MagfleetProcess.run(["query", store, "--image", "a.jpg", "--model", "m.pth"])
        // An imported store records no preprocessing we know: an image cannot be embedded as its rows were.
        #expect(image.status != 0 && image.stderr.contains("preprocessing"))
        let text = dir.appendingPathComponent("features.list").path
        let notHDF5 = try MagfleetProcess.run(["info", text])
        #expect(notHDF5.status != 0 && notHDF5.stderr.contains("not an HDF5 file"))
    }

    @Test func exportImportRoundTrips() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("out.list").path
        #expect(try MagfleetProcess.run(["export", store, "--format", "features-list", "--out", list]).status == 0)
        let original = try String(contentsOf: dir.appendingPathComponent("features.list"), encoding: .utf8)
        #expect(try String(contentsOfFile: list, encoding: .utf8) == original, "shortest float32 text round-trips")
        for format in ["npy", "ann"] {
            let out = dir.appendingPathComponent("out.\(format)").path
            var arguments = ["export", store, "--format", format, "--out", out]
            if format == "ann" { arguments += ["--test-count", "4", "--neighbors", "3"] }
            let exported = try MagfleetProcess.run(arguments)
            #expect(exported.status == 0, "\(exported.stderr)")
            let back = dir.appendingPathComponent("back-\(format).h5").path
            let imported = try MagfleetProcess.run(["import", out, "--format", format, "--out", back])
            #expect(imported.status == 0, "\(imported.stderr)")
            #expect(imported.stdout.contains(format == "ann" ? "imported 36 rows" : "imported 40 rows"))
        }
    }

    /// The reducer reads the HDF5 store and gen_feat.py's features.list alike: the same rows
    /// and labels give the same report, number for number.
    @Test func reduceReadsTheStoreAndTheTextFormatAlike() throws {
        let (dir, store) = try makeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        var reports: [[String: Any]] = []
        for (input, name) in [(store, "from-store"), (dir.appendingPathComponent("features.list").path, "from-text")] {
            let out = dir.appendingPathComponent(name).path
            let r = try MagfleetProcess.run(["reduce", input, "--out", out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("ROC-AUC"))
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json")))
            var report = try #require(json as? [String: Any])
            report["source"] = nil
            report["model"] = nil
            report["seconds"] = nil  // stage timings
            reports.append(report)
        }
        let a = try JSONSerialization.data(withJSONObject: reports[0], options: .sortedKeys)
        let b = try JSONSerialization.data(withJSONObject: reports[1], options: .sortedKeys)
        #expect(a == b)
        let md = try String(contentsOfFile: dir.appendingPathComponent("from-store/report.md").path, encoding: .utf8)
        #expect(md.contains("**Model**: unknown, fingerprint `fp-test"))  // what the import recorded
    }
}
