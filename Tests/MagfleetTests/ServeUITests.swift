import Foundation
import Testing
import TestSupport

/// The browser page of `magfleet serve` in headless Chromium, driven over the DevTools protocol
/// by Tests/Benchmarks/serve_ui.py: search, click a neighbour, its identity, the failures.
@Suite(.timeLimit(.minutes(3))) struct ServeUITests {
    static var script: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/", !FileManager.default.fileExists(atPath: url.appendingPathComponent("Tests/Benchmarks/serve_ui.py").path) {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("Tests/Benchmarks/serve_ui.py")
    }

    @Test(.enabled(if: HeadlessChromium.path != nil, "needs the Debian package chromium"))
    func searchClickThroughIdentityAndFailures() throws {
        let (dir, store, _) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServeProcess(store: store, ["--image-root", dir.appendingPathComponent("images").path])
        defer { server.stop() }
        let shots = dir.appendingPathComponent("shots")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script.path, server.base, shots.path, "1"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(errors)")
        let seen = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(errors)")
        #expect((seen["summary"] as? String ?? "").contains("60 rows (57 ok, 3 failed), dim 8"))
        let query = try #require((seen["query"] as? [[String: Any]])?.first)
        #expect(query["row"] as? Int == 1)
        #expect((query["text"] as? String ?? "").contains("person_1/img_1.jpg"))
        #expect(query["img"] as? Int == 1)  // the 1x1 PNG from --image-root
        let results = try #require(seen["results"] as? [[String: Any]])
        #expect(results.count == 10)
        #expect(!results.contains { $0["row"] as? Int == 1 })
        #expect(results.allSatisfy { ($0["text"] as? String ?? "").contains("norm ") && ($0["img"] as? Int ?? 0) > 0 })  // placeholders drawn
        let clicked = try #require(seen["clicked"] as? [String: Any])
        #expect(clicked["hash"] as? String == "#row=\(clicked["row"] as? Int ?? -1)")
        #expect(!((clicked["results"] as? [[String: Any]]) ?? []).isEmpty)
        let identity = try #require(seen["identity"] as? [String: Any])
        #expect((identity["title"] as? String ?? "").hasPrefix("Identity "))
        #expect((identity["faces"] as? Int ?? 0) > 0)
        let failures = seen["failures"] as? String ?? ""
        #expect(failures.contains("Failures: 3"))
        #expect(failures.contains("decode 2") && failures.contains("truncated JPEG"))
        #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent("search.png").path))
    }
}
