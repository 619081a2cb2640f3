import Foundation
import Testing
import TestSupport

/// The real `magfleet reduce / pairs / head` on a features.list written from the fixture.
@Suite struct ReduceCommandTests {
    @Test func reducePairsAndHeadEndToEnd() throws {
        let (table, _) = try Fixture.table()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reduce-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var text = ""
        for r in 0..<table.count {
            // Parent folder = identity; the fixture's distractors live under distractors/.
            text += table.paths[r] + " " + (0..<table.dimension).map { "\(table.embeddings[r * table.dimension + $0])" }.joined(separator: " ") + "\n"
        }
        let store = dir.appendingPathComponent("features.list").path
        try text.write(toFile: store, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let reduce = try MagfleetProcess.run(["reduce", store, "--out", out, "--head", "--epochs", "3"])
        #expect(reduce.status == 0, "\(reduce.stderr)")
        #expect(reduce.stdout.contains("| Embedding Similarity | Identification | Rank-1 | **83.00%** |"), "\(reduce.stdout)")
        for file in ["report.md", "report.json", "report.html", "head.h5", "predictions.tsv", "pair-errors.html"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        // report.md lists what the run wrote and the command that made it.
        let md = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        let listed = md.matches(of: /\| `([^`]+)` \|/).map { String($0.1) }
        #expect(Set(listed) == ["report.md", "report.json", "report.html", "pair-errors.html", "head.h5", "predictions.tsv"], "\(listed)")
        #expect(md.contains("magfleet reduce \(store) --out \(out) --head --epochs 3\n"), "\(md)")
        #expect(md.contains("magfleet head predict \(store) --weights \(out)/head.h5"))
        #expect(md.contains("**Model**: not recorded"))
        #expect(!md.contains("magfleet info"), "a features.list has no provenance to show")
        let plain = dir.appendingPathComponent("plain").path
        #expect(try MagfleetProcess.run(["reduce", store, "--out", plain]).status == 0)
        let plainListed = try String(contentsOfFile: plain + "/report.md", encoding: .utf8).matches(of: /\| `([^`]+)` \|/).map { String($0.1) }
        #expect(Set(plainListed) == ["report.md", "report.json", "report.html", "pair-errors.html"], "no head, no head files: \(plainListed)")
        #expect(!FileManager.default.fileExists(atPath: plain + "/head.h5"))
        let pairs = dir.appendingPathComponent("pairs.json").path
        let make = try MagfleetProcess.run(["pairs", "make", store, "--out", pairs, "--positives", "100", "--negatives", "200", "--seed", "3"])
        #expect(make.status == 0 && make.stdout.contains("100 positive and 200 negative"), "\(make.stderr)")
        let verify = try MagfleetProcess.run(["pairs", "verify", store, pairs, "--threshold", "0.4", "--html", dir.appendingPathComponent("e.html").path])
        #expect(verify.status == 0 && verify.stdout.contains("300 pairs scored, 0 skipped"), "\(verify.stdout) \(verify.stderr)")
        let predict = try MagfleetProcess.run(["head", "predict", store, "--weights", out + "/head.h5", "--out", dir.appendingPathComponent("p.tsv").path])
        #expect(predict.status == 0 && predict.stdout.contains("600 rows"), "\(predict.stderr)")
        // The saved head reproduces reduce's own predictions, byte for byte.
        let reused = try String(contentsOf: dir.appendingPathComponent("p.tsv"), encoding: .utf8)
        #expect(try reused == String(contentsOfFile: out + "/predictions.tsv", encoding: .utf8))
        #expect(reused.split(separator: "\n").count == 601)
        #expect(predict.stderr.contains("epoch") && predict.stderr.contains("of 3"), "\(predict.stderr)")
    }
}
