import Foundation
import Testing
@testable import Evaluation

@Suite struct PairsTests {
    @Test func drawIsSeededDistinctAndLabelled() throws {
        let (table, _) = try Fixture.table()
        let a = try PairSet.draw(from: table, positives: 500, negatives: 900, seed: 4)
        #expect(a == (try PairSet.draw(from: table, positives: 500, negatives: 900, seed: 4)))
        #expect(a.positives == 500 && a.negatives == 900 && a.pairs.count == 1400)
        #expect(Set(a.pairs.map { [$0.a, $0.b].sorted() }).count == 1400)
        let rows = table.rowsByPath()
        for p in a.pairs {
            let la = table.labels[rows[p.a]!], lb = table.labels[rows[p.b]!]
            #expect(la >= 0 && lb >= 0 && (la == lb) == p.same && p.a != p.b)
        }
        #expect(throws: EvaluationError.self) { try PairSet.draw(from: table, positives: 100_000, negatives: 1) }
    }

    @Test func fileRoundTripsAndErrorPageShowsBothFaces() throws {
        let (table, meta) = try Fixture.table()
        let set = try Fixture.pairs(meta)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pairs-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try set.write(to: url)
        #expect(try PairSet.load(from: url) == set)
        let r = PairVerification.run(set, table: table, threshold: 0.4)
        let page = r.errorPage(imageRoot: "/data/")
        #expect(page.components(separatedBy: "<tr class=\"pair\">").count - 1 == r.falseNegatives + r.falsePositives)
        #expect(page.components(separatedBy: "<img src=\"/data/").count - 1 == 2 * r.errors.count)
        #expect(r.missing == [PairSet.Pair(a: "missing/0.jpg", b: set.pairs.last!.b, same: true)])
    }
}
