import Foundation
import Testing
import TestSupport

/// `magfleet query --queries FILE` with a text file of paths and #ROWs: one batch, and each
/// query leaves out its own row, exactly as the same query alone (issue 17 item 5).
@Suite struct QueryBatchTests {
    @Test func textQueriesAreBatchedAndLeaveOutTheirOwnRows() throws {
        let (dir, store, rows) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let lines = ["person_1/img_1.jpg", "#2", "#40", "person_3/img_13.jpg", "#2"]
        let file = dir.appendingPathComponent("q.txt")
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: file)
        let batch = try MagfleetProcess.run(["query", store, "--queries", file.path, "--top", "6", "--json"])
        #expect(batch.status == 0, "\(batch.stderr)")
        let answers = try #require(try JSONSerialization.jsonObject(with: Data(batch.stdout.utf8)) as? [[String: Any]])
        #expect(answers.count == lines.count)
        let own = [1, 2, 40, 13, 2]
        for (k, line) in lines.enumerated() {
            let got = (answers[k]["neighbors"] as? [[String: Any]] ?? []).compactMap { $0["row"] as? Int }
            #expect(got.count == 6)
            #expect(!got.contains(own[k]), "\(line)")
            #expect(!got.contains { !rows.statuses[$0].isOK })
            let alone = try MagfleetProcess.run(["query", store] + (line.hasPrefix("#") ? ["--index", String(line.dropFirst())] : ["--path", line]) + ["--top", "6", "--json"])
            let single = try #require(try JSONSerialization.jsonObject(with: Data(alone.stdout.utf8)) as? [[String: Any]])
            #expect(got == (single.first?["neighbors"] as? [[String: Any]] ?? []).compactMap { $0["row"] as? Int }, "\(line)")
        }
        let kept = try MagfleetProcess.run(["query", store, "--queries", file.path, "--top", "1", "--json", "--include-self"])
        let first = try #require(try JSONSerialization.jsonObject(with: Data(kept.stdout.utf8)) as? [[String: Any]])
        #expect(first.map { ($0["neighbors"] as? [[String: Any]])?.first?["row"] as? Int } == own.map { $0 })
    }
}
