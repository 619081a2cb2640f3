import FeatureStore
import Foundation
import Testing
import TestSupport
@testable import magfleet

/// The command line as issue 19 ("The CLI") asks for it: one spelling per concept (the old
/// ones still parse), the values the help promises, the head's model check, import's
/// provenance and `make install`.
@Suite struct CommandLineTests {
    typealias Scratch = OperatorErrorTests.Scratch

    static func help(_ command: [String]) throws -> String {
        let r = try MagfleetProcess.run(command + ["--help"], timeout: 30)
        #expect(r.status == 0)
        return r.stdout
    }

    /// The help shows one name per concept; the other spellings are hidden and still work.
    @Test func oneNamePerConceptAndTheOldNamesStillParse() throws {
        #expect(try Self.help(["bench"]).contains("--batch-size"))
        #expect(!(try Self.help(["bench"])).contains("--batch "))
        let verify = try Self.help(["pairs", "verify"])
        #expect(verify.contains("--root") && !verify.contains("--image-root"))
        let check = try Self.help(["images", "check"])
        #expect(check.contains("--list <list>"))
        for command in [["extract"], ["coordinator"], ["import"]] {
            let help = try Self.help(command)
            #expect(help.contains("--labels-from-dirs") && !help.contains("--label-from-folder"))
        }

        let bench = try #require(try Magfleet.parseAsRoot(["bench", "--batch", "1,2"]) as? Bench)
        #expect(bench.batchAlias == "1,2")
        let verifyOld = try #require(try Magfleet.parseAsRoot(["pairs", "verify", "s.h5", "p.json", "--image-root", "/img"]) as? Pairs.Verify)
        #expect(verifyOld.imagePrefix == "/img/")
        let positional = try #require(try Magfleet.parseAsRoot(["images", "check", "a.list"]) as? Images.Check)
        #expect(positional.listArgument == "a.list")
        #expect(throws: (any Error).self) { try Magfleet.parseAsRoot(["images", "check", "a.list", "--list", "b.list"]) }
        let extract = try #require(try Magfleet.parseAsRoot(["extract", "--list", "l", "--out", "o.h5", "--embedder", "test", "--label-from-folder"]) as? Extract)
        #expect(extract.runOptions.labelsFromDirs)
        let imported = try #require(try Magfleet.parseAsRoot(["import", "f.list", "--format", "features-list", "--out", "o.h5", "--label-from-folder"]) as? Import)
        #expect(imported.labelsFromDirs)

        // The old positional list and --image-root work end to end.
        let s = try Scratch(missing: 0)
        defer { s.remove() }
        let old = try MagfleetProcess.run(["images", "check", s.list, "--root", s.root])
        #expect(old.status == 0 && old.stdout.contains("25 images: 25 ok"), "\(old.stdout)\(old.stderr)")
    }

    @Test func labelMinusOneAndThresholdBestWorkAsTheHelpSays() throws {
        let s = try Scratch(missing: 0)
        defer { s.remove() }
        #expect(try s.extract().status == 0)
        let store = s.path("f.h5")
        let query = try MagfleetProcess.run(["query", store, "--index", "0", "--label", "-1", "--json"])
        #expect(query.status == 0, "\(query.stderr)")
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(query.stdout.utf8)) as? [[String: Any]])
        let neighbors = try #require(answers.first?["neighbors"] as? [[String: Any]])
        #expect(neighbors.count == 5 && neighbors.allSatisfy { $0["label"] as? Int == -1 }, "the 5 distractors")

        let pairs = s.path("p.json")
        #expect(try MagfleetProcess.run(["pairs", "make", store, "--out", pairs, "--positives", "20", "--negatives", "20"]).status == 0)
        let html = s.path("e.html")
        let best = try MagfleetProcess.run(["pairs", "verify", store, pairs, "--threshold", "best", "--json", "--html", html, "--root", "/faces"])
        #expect(best.status == 0, "\(best.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(best.stdout.utf8)) as? [String: Any])
        let accuracy = try #require(result["accuracy"] as? Double)
        #expect(try String(contentsOfFile: html, encoding: .utf8).contains("src=\"/faces/") || (result["errors"] as? [Any])?.isEmpty == true)
        // No fixed threshold does better on these pairs than the best one.
        for fixed in ["-0.5", "0", "0.4", "0.9"] {
            let r = try MagfleetProcess.run(["pairs", "verify", store, pairs, "--threshold", fixed, "--json", "--html", html])
            let other = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect((other["accuracy"] as? Double ?? 2) <= accuracy)
        }
        let bad = try MagfleetProcess.run(["pairs", "verify", store, pairs, "--threshold", "better"])
        #expect(bad.status != 0 && bad.stderr.contains("a cosine in -1...1 or `best`"))
    }

    /// head.h5 records the fingerprint of its store's model; head predict refuses another's.
    @Test func headPredictRefusesAStoreOfAnotherModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-head-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("features.list").path
        try Data(StoreCommandTests.featuresList().text.utf8).write(to: URL(fileURLWithPath: list))
        func store(_ fingerprint: String) throws -> String {
            let path = dir.appendingPathComponent("\(fingerprint).h5").path
            let r = try MagfleetProcess.run(["import", list, "--format", "features-list", "--out", path, "--labels-from-dirs", "--fingerprint", fingerprint])
            #expect(r.status == 0, "\(r.stderr)")
            return path
        }
        let a = try store("fp-a"), b = try store("fp-b")
        let report = dir.appendingPathComponent("report").path
        let reduce = try MagfleetProcess.run(["reduce", a, "--out", report, "--head", "--epochs", "2"], timeout: 300)
        #expect(reduce.status == 0, "\(reduce.stderr)")
        let weights = report + "/head.h5"
        #expect(try ArrayFile.readAttributes(from: URL(fileURLWithPath: weights))["model_fingerprint"] == .string("fp-a"))
        let same = try MagfleetProcess.run(["head", "predict", a, "--weights", weights, "--out", dir.appendingPathComponent("a.tsv").path])
        #expect(same.status == 0, "\(same.stderr)")
        let other = try MagfleetProcess.run(["head", "predict", b, "--weights", weights, "--out", dir.appendingPathComponent("b.tsv").path])
        OperatorErrorTests.expectOneMessage(other, contains: ["\(b) was made by another model (fingerprint fp-b)", "trained on (fp-a)"])
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("b.tsv").path))
    }

    @Test func importKeepsTheProvenanceItIsGiven() throws {
        let s = try Scratch(missing: 0)
        defer { s.remove() }
        #expect(try s.extract().status == 0)  // the test embedder's store: random weights
        let store = s.path("f.h5"), list = s.path("f.list")
        #expect(try MagfleetProcess.run(["export", store, "--format", "features-list", "--out", list]).status == 0)
        let source = try FeatureStoreReader(url: URL(fileURLWithPath: store)).provenance
        #expect(source.randomWeights)

        let copied = s.path("copied.h5")
        let r = try MagfleetProcess.run(["import", list, "--format", "features-list", "--out", copied, "--provenance-from", store, "--preset", "arcface"])
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FeatureStoreReader(url: URL(fileURLWithPath: copied)).provenance
        #expect(p.randomWeights && p.modelFingerprint == source.modelFingerprint && p.architecture == source.architecture)
        #expect(p.imageListSHA256 == source.imageListSHA256 && p.preprocessingPreset == "arcface")
        #expect(try MagfleetProcess.run(["info", copied]).stdout.contains("RANDOM WEIGHTS"))

        let flagged = s.path("flagged.h5")
        #expect(try MagfleetProcess.run(["import", list, "--format", "features-list", "--out", flagged, "--random-weights", "--fingerprint", "fp"]).status == 0)
        let f = try FeatureStoreReader(url: URL(fileURLWithPath: flagged)).provenance
        #expect(f.randomWeights && f.modelFingerprint == "fp")
        let plain = s.path("plain.h5")
        #expect(try MagfleetProcess.run(["import", list, "--format", "features-list", "--out", plain]).status == 0)
        #expect(try FeatureStoreReader(url: URL(fileURLWithPath: plain)).provenance.randomWeights == false)
    }

    /// `make install-built` (what `make install` runs after the release build) puts the binary
    /// and its completions under DESTDIR/PREFIX.
    @Test func makeInstallPutsTheBinaryAndCompletionsUnderThePrefix() throws {
        let destdir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-install-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: destdir) }
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        make.arguments = ["make", "-s", "-C", DocsTruthTests.root.path, "install-built",
                          "DESTDIR=\(destdir.path)", "PREFIX=/opt/mf", "BIN=\(MagfleetProcess.executable.path)"]
        make.standardOutput = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        #expect(make.terminationStatus == 0)
        let prefix = destdir.path + "/opt/mf"
        #expect(FileManager.default.isExecutableFile(atPath: prefix + "/bin/magfleet"))
        for completion in ["bash-completion/completions/magfleet", "zsh/site-functions/_magfleet", "fish/vendor_completions.d/magfleet.fish"] {
            let text = try String(contentsOfFile: prefix + "/share/" + completion, encoding: .utf8)
            #expect(text.contains("magfleet") && text.contains("extract"), "\(completion)")
        }
        let installed = Process()
        installed.executableURL = URL(fileURLWithPath: prefix + "/bin/magfleet")
        installed.arguments = ["--version"]
        installed.standardOutput = FileHandle.nullDevice
        try installed.run()
        installed.waitUntilExit()
        #expect(installed.terminationStatus == 0)
    }
}
