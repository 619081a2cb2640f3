import FeatureStore
import Foundation
import Testing
import TestSupport

/// What an operator reads when something is wrong: every message names the path or field and
/// the problem, through the real binary (issue 19, "Errors a person can act on").
@Suite struct OperatorErrorTests {
    /// A scratch directory with the demo's synthetic faces (4 identities of 5 images, 5
    /// distractors) and a list that also names two missing files.
    struct Scratch {
        let dir: URL
        var list: String { dir.appendingPathComponent("demo/images.list").path }
        var root: String { dir.appendingPathComponent("demo/images").path }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        init(missing: Int = 2) throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-operator-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let demo = try MagfleetProcess.run(["demo", "data", "--out", dir.appendingPathComponent("demo").path,
                                                "--identities", "4", "--per-identity", "5", "--distractors", "5"])
            #expect(demo.status == 0, "\(demo.stderr)")
            let extra = (0..<missing).map { "missing/\($0).jpg\n" }.joined()
            let handle = try #require(FileHandle(forWritingAtPath: list))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(extra.utf8))
            try handle.close()
        }

        /// Runs `extract` with the test embedder into `name`; returns its result.
        @discardableResult
        func extract(_ name: String = "f.h5", _ extra: [String] = []) throws -> MagfleetProcess.Result {
            try MagfleetProcess.run(["extract", "--list", list, "--root", root, "--embedder", "test", "--out", path(name),
                                     "--workers", "1", "--no-progress", "--max-failures", "100%"] + extra)
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// One `magfleet:` prefix, once, and none of Foundation's `Error Domain=` dumps.
    static func expectOneMessage(_ r: MagfleetProcess.Result, contains parts: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, sourceLocation: sourceLocation)
        // Log lines (a run's) may come first; the error is one line that starts `magfleet: `.
        let errors = r.stderr.split(separator: "\n").filter { $0.contains("magfleet: ") }
        #expect(errors.count == 1 && errors[0].hasPrefix("magfleet: "), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.components(separatedBy: "magfleet: ").count == 2, "one prefix: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("Error Domain"), "\(r.stderr)", sourceLocation: sourceLocation)
        for part in parts { #expect(r.stderr.contains(part), "\(part.debugDescription) not in \(r.stderr)", sourceLocation: sourceLocation) }
    }

    @Test func everyFileACommandWritesNamesItsPathAndTheProblem() throws {
        let s = try Scratch()
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let store = s.path("f.h5"), nowhere = s.path("nowhere")
        let pairs = s.path("p.json")
        #expect(try MagfleetProcess.run(["pairs", "make", store, "--out", pairs, "--positives", "5", "--negatives", "5"]).status == 0)
        let cases: [([String], String)] = [
            (["pairs", "make", store, "--out", nowhere + "/p.json", "--positives", "5", "--negatives", "5"], "pairs file \(nowhere)/p.json"),
            (["pairs", "verify", store, pairs, "--html", nowhere + "/e.html"], "errors page (--html) \(nowhere)/e.html"),
            (["head", "predict", store, "--weights", s.path("head.h5"), "--out", nowhere + "/p.tsv"], "predictions file \(nowhere)/p.tsv"),
            (["export", store, "--format", "npy", "--out", nowhere + "/f.npy"], "\(nowhere)/f.npy"),
            (["merge", store, "--out", nowhere + "/m.h5"], "\(nowhere)/m.h5"),
            (["import", s.path("x.list"), "--format", "features-list", "--out", nowhere + "/i.h5"], "\(nowhere)/i.h5"),
            (["model", "random", "--arch", "iresnet18", "--out", nowhere + "/r.pth"], "\(nowhere)/r.pth"),
        ]
        for (arguments, named) in cases {
            let r = try MagfleetProcess.run(arguments)
            Self.expectOneMessage(r, contains: ["cannot write the", named, "the directory \(nowhere) does not exist"])
        }
        // A report directory in the way is a file: named before any work.
        try Data().write(to: URL(fileURLWithPath: s.path("report")))
        Self.expectOneMessage(try MagfleetProcess.run(["reduce", store, "--out", s.path("report")]),
                              contains: ["report directory (--out) \(s.path("report")): it is a file"])
        // extract creates the store's directory, as it creates the run directory.
        #expect(try s.extract("new/dir/g.h5").status == 0)
        #expect(FileManager.default.fileExists(atPath: s.path("new/dir/g.h5")))
    }

    @Test func queryNamesAbsentAndFailedPathsWithOnePrefix() throws {
        let s = try Scratch()
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let store = s.path("f.h5")
        let absent = try MagfleetProcess.run(["query", store, "--path", "nobody.jpg"])
        Self.expectOneMessage(absent, contains: ["path \"nobody.jpg\" is not in", "relative to the run's --root", "e.g."])
        #expect(!absent.stderr.contains("query: query:"))
        let rooted = try MagfleetProcess.run(["query", store, "--path", s.root + "/person_000/0.jpg"])
        Self.expectOneMessage(rooted, contains: ["did you mean \"person_000/0.jpg\"?"])
        let failed = try MagfleetProcess.run(["query", store, "--path", "missing/0.jpg"])
        Self.expectOneMessage(failed, contains: ["a failed row", "missing-file: ", "no such file", "magfleet info"])
        // Usage errors take the same prefix.
        Self.expectOneMessage(try MagfleetProcess.run(["query", store, "--top", "0", "--index", "0"]), contains: ["--top must be at least 1"])
    }

    @Test func keygenRefusesToReplaceAKeyPairWithoutForce() throws {
        let s = try Scratch(missing: 0)
        defer { s.remove() }
        let base = s.path("keys/workers/node17")  // directories are made
        let first = try MagfleetProcess.run(["keygen", "--out", base])
        #expect(first.status == 0, "\(first.stderr)")
        let key = try String(contentsOfFile: base + ".key", encoding: .utf8)
        let again = try MagfleetProcess.run(["keygen", "--out", base])
        Self.expectOneMessage(again, contains: ["\(base).key and \(base).pub already exist", "--force"])
        #expect(try String(contentsOfFile: base + ".key", encoding: .utf8) == key, "the old pair is untouched")
        let forced = try MagfleetProcess.run(["keygen", "--out", base, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOfFile: base + ".key", encoding: .utf8) != key)
        let mode = try FileManager.default.attributesOfItem(atPath: base + ".key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func inputsAreToldByContentNotName() throws {
        let s = try Scratch()
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let text = s.path("notes.h5")
        try Data("hdf5 is what this is not\n".utf8).write(to: URL(fileURLWithPath: text))
        Self.expectOneMessage(try MagfleetProcess.run(["reduce", text, "--out", s.path("r")]),
                              contains: ["\(text): not a feature store and not a features.list", "a text file", "HDF5 signature",
                                         "Expected a magfleet feature store"])
        Self.expectOneMessage(try MagfleetProcess.run(["head", "predict", s.path("f.h5"), "--weights", s.path("f.h5"), "--out", s.path("p.tsv")]),
                              contains: ["not a head file: it is a magfleet feature store", "reduce STORE --out DIR --head"])
    }

    @Test func infoGroupsFailuresByCategoryInShortLines() throws {
        let s = try Scratch(missing: 300)
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let store = s.path("f.h5")
        let info = try MagfleetProcess.run(["info", store])
        #expect(info.status == 0, "\(info.stderr)")
        let lines = info.stdout.split(separator: "\n")
        #expect(lines.allSatisfy { $0.count <= 200 }, "\(lines.map(\.count).max() ?? 0) characters")
        #expect(info.stdout.contains("failures    300 rows in 1 category"))
        let category = try #require(lines.firstIndex { $0.hasPrefix("  missing-file") })
        #expect(lines[category].contains(" 300  missing/"))
        #expect(lines.count - category == 3, "three examples by default")
        // The stored reasons are `category: message` (docs/feature-store.md).
        let json = try MagfleetProcess.run(["info", store, "--json", "--failures", "1"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["failureReasons"] as? [String: Int] == ["missing-file": 300])
        let examples = try #require(object["failureExamples"] as? [String: [String]])
        #expect(examples["missing-file"]?.count == 1)
        for case let .failed(reason) in try FeatureStoreReader(url: URL(fileURLWithPath: store)).statuses() {
            #expect(reason.range(of: #"^[a-z][a-z0-9-]*: \S"#, options: .regularExpression) != nil, "\(reason)")
        }
    }

    /// Every refused resume names one field with both values; no JSON headers.
    @Test func aJournalMismatchNamesTheField() throws {
        let s = try Scratch()
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let labels = try s.extract("f.h5", ["--labels-from-dirs"])
        Self.expectOneMessage(labels, contains: ["the label table is 4 identities", "5 identities", "--labels-from-dirs given", "--restart"])
        #expect(!labels.stderr.contains("{"))
        let journal = s.path("f.h5.run/journal")
        let text = try String(contentsOfFile: journal, encoding: .utf8)
        try Data(text.replacingOccurrences(of: "magfleet-journal 2 ", with: "magfleet-journal 1 ").utf8).write(to: URL(fileURLWithPath: journal))
        Self.expectOneMessage(try s.extract(), contains: ["journal format version is 1 in this run directory but 2 now", "--restart"])
        let stripped = text.replacingOccurrences(of: #""labelsSHA256":"[0-9a-f]*","#, with: "", options: .regularExpression)
        #expect(stripped != text)
        try Data(stripped.utf8).write(to: URL(fileURLWithPath: journal))
        let missing = try s.extract()
        Self.expectOneMessage(missing, contains: ["unreadable header: field `list.labelsSHA256` is missing", "--restart"])
        #expect(!missing.stderr.contains("CodingKeys"))
    }
}
