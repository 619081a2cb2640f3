import Foundation
import Testing
import TestSupport

/// `magfleet images check` on a list mixing good, broken, missing, duplicate and malformed
/// lines, run as an operator would run it.
@Suite struct ImagesCommandTests {
    @Test func checkReportsEveryProblemWithItsLineNumber() throws {
        let root = try Fixture.path("")
        let landmarks = Fixture.manifest.align[0].landmarks.map { String($0) }.joined(separator: " ")
        let list = """
            # comment
            decode/face420.jpg 1
            decode/odd420.jpg 2
            bad/truncated.jpg 3
            bad/bomb.png 4
            missing.jpg 5
            decode/face420.jpg 6
            align/face.png 7 \(landmarks)
            bad line with too many fields

            """
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-list-\(UUID().uuidString).txt").path
        try Data(list.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        let result = try MagfleetProcess.run(["images", "check", "--list", path, "--root", root], timeout: 60)
        #expect(result.status == 1, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("\(path):4: ") && $0.contains("Premature end of JPEG file") })
        #expect(lines.contains { $0.hasPrefix("\(path):5: ") && $0.contains("exceeds the limit") })
        #expect(lines.contains { $0.hasPrefix("\(path):6: ") && $0.contains("no such file") })
        // A path listed twice is a warning (a run embeds it twice); a malformed line is a failed
        // row, as in a run (docs/lists.md).
        #expect(lines.contains { $0.hasPrefix("\(path):7: warning: duplicate of line 2") })
        #expect(lines.contains { $0.hasPrefix("\(path):9: ") && $0.contains("list line 9 malformed") })
        #expect(lines.last?.hasPrefix("8 images: 4 ok, 4 failed") == true, "\(result.stdout)")
        #expect(lines.last?.contains("malformed-line 1") == true)
        #expect(lines.last?.contains("1 resized, 1 aligned") == true)

        let strict = try MagfleetProcess.run(["images", "check", "--list", path, "--root", root, "--strict-size", "--json"], timeout: 60)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(strict.stdout.utf8)) as? [String: Any])
        let byKind = try #require(report["failuresByKind"] as? [String: Int])
        #expect(byKind["wrong-size"] == 1)

        // Two decoding threads report the same failures, in list order.
        let threaded = try MagfleetProcess.run(["images", "check", "--list", path, "--root", root, "--threads", "2"], timeout: 60)
        #expect(threaded.stdout.split(separator: "\n").dropLast() == result.stdout.split(separator: "\n").dropLast())
    }
}
