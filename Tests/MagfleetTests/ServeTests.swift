import Foundation
import Testing
import TestSupport

/// `magfleet serve` through the real binary on loopback: every endpoint checked against
/// Protocols/openapi.json, every bad request refused with a reason, the token, SIGTERM.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ServeTests {
    let schema: OpenAPIValidator

    init() throws { schema = try OpenAPIValidator() }

    func expectValid(_ reply: HTTPReply, _ path: String, method: String = "get", status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(reply.status == status, "\(path): \(reply.status) \(String(decoding: reply.body, as: UTF8.self))", sourceLocation: sourceLocation)
        let problems = schema.check(reply.json, path: path, method: method, status: status)
        #expect(problems.isEmpty, "\(path) \(status): \(problems)", sourceLocation: sourceLocation)
        #expect(reply.contentType.hasPrefix("application/json"), sourceLocation: sourceLocation)
    }

    @Test func everyEndpointAnswersAsTheDocumentSays() throws {
        let (dir, store, rows) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServeProcess(store: store, ["--image-root", dir.appendingPathComponent("images").path])
        defer { server.stop() }
        let base = server.base

        let info = try HTTP.request(base + "/info")
        expectValid(info, "/info", status: 200)
        #expect(info.object["rows"] as? Int == 60)
        #expect(info.object["ok_rows"] as? Int == 57)
        #expect(info.object["mapped"] as? Bool == true)

        // By path: its own row left out, the rest in score order.
        let byPath = try HTTP.post(base + "/search", ["path": "person_1/img_1.jpg", "top": 5])
        expectValid(byPath, "/search", method: "post", status: 200)
        let result = try #require((byPath.object["results"] as? [[String: Any]])?.first)
        #expect(result["row"] as? Int == 1)
        let neighbors = try #require(result["neighbors"] as? [[String: Any]])
        #expect(neighbors.count == 5)
        #expect(!neighbors.contains { $0["row"] as? Int == 1 })
        let scores = neighbors.compactMap { $0["score"] as? Double }
        #expect(scores == scores.sorted(by: >))
        #expect(!neighbors.contains { [7, 19, 33].contains($0["row"] as? Int ?? -1) })

        // By row with include_self, and with filters.
        let byRow = try HTTP.post(base + "/search", ["row": 2, "top": 3, "include_self": true])
        expectValid(byRow, "/search", method: "post", status: 200)
        #expect(((byRow.object["results"] as? [[String: Any]])?.first?["neighbors"] as? [[String: Any]])?.first?["row"] as? Int == 2)
        let filtered = try HTTP.post(base + "/search", ["row": 2, "top": 50, "labels": ["bo", 3], "min_norm": 2.5])
        expectValid(filtered, "/search", method: "post", status: 200)
        let kept = ((filtered.object["results"] as? [[String: Any]])?.first?["neighbors"] as? [[String: Any]]) ?? []
        #expect(!kept.isEmpty)
        #expect(kept.allSatisfy { [1, 3].contains($0["label"] as? Int ?? -9) && ($0["norm"] as? Double ?? 0) >= 2.5 })

        // A vector, and a batch of vectors: each answer is the brute-force top 3.
        let v0 = Array(rows.embeddings[0..<8]), v5 = Array(rows.embeddings[40..<48])
        let batch = try HTTP.post(base + "/search", ["vectors": [v0, v5], "top": 3])
        expectValid(batch, "/search", method: "post", status: 200)
        let answers = try #require(batch.object["results"] as? [[String: Any]])
        #expect(answers.count == 2)
        #expect((answers[0]["neighbors"] as? [[String: Any]])?.first?["row"] as? Int == 0)
        #expect((answers[1]["neighbors"] as? [[String: Any]])?.first?["row"] as? Int == 5)
        let single = try HTTP.post(base + "/search", ["vector": v5, "top": 3])
        expectValid(single, "/search", method: "post", status: 200)
        #expect(((single.object["results"] as? [[String: Any]])?.first?["neighbors"] as? [[String: Any]])?.map { $0["row"] as? Int }
                == (answers[1]["neighbors"] as? [[String: Any]])?.map { $0["row"] as? Int })

        // Rows, ok and failed.
        let ok = try HTTP.request(base + "/rows/4")
        expectValid(ok, "/rows/{row}", status: 200)
        #expect(ok.object["path"] as? String == "person_4/img_4.jpg")
        #expect(ok.object["label_name"] as? String == "Zoë")
        let failed = try HTTP.request(base + "/rows/33")
        expectValid(failed, "/rows/{row}", status: 200)
        #expect(failed.object["status"] as? String == "failed")
        #expect(failed.object["category"] as? String == "detect")

        // Identities by name and by id, paged.
        let ann = try HTTP.request(base + "/identities/ann")
        expectValid(ann, "/identities/{label}", status: 200)
        #expect(ann.object["total"] as? Int == 12)
        let zoe = try HTTP.request(base + "/identities/Zo%C3%AB?limit=2&offset=1")
        expectValid(zoe, "/identities/{label}", status: 200)
        #expect((zoe.object["rows"] as? [[String: Any]])?.map { $0["row"] as? Int } == [14, 24])
        let unlabeled = try HTTP.request(base + "/identities/-1")
        expectValid(unlabeled, "/identities/{label}", status: 200)
        #expect(unlabeled.object["total"] as? Int == 6)

        // Failures, all and by category.
        let failures = try HTTP.request(base + "/failures")
        expectValid(failures, "/failures", status: 200)
        #expect(failures.object["total"] as? Int == 3)
        let decode = try HTTP.request(base + "/failures?category=decode&limit=1")
        expectValid(decode, "/failures", status: 200)
        #expect(decode.object["total"] as? Int == 2)
        #expect((decode.object["rows"] as? [[String: Any]])?.map { $0["row"] as? Int } == [7])

        // Thumbnails: the file, or the placeholder.
        let thumb = try HTTP.request(base + "/thumbs/1")
        #expect(thumb.status == 200 && thumb.contentType == "image/png")
        let missing = try HTTP.request(base + "/thumbs/2")
        #expect(missing.status == 200 && missing.contentType == "image/svg+xml")
        let page = try HTTP.request(base + "/")
        #expect(page.status == 200 && String(decoding: page.body, as: UTF8.self).contains("<title>magfleet serve</title>"))

        let after = try HTTP.request(base + "/info")
        #expect((after.object["searches"] as? [String: Any])?["queries"] as? Int == 6)
    }

    @Test func badRequestsGetAReasonAndTheServerStaysUp() throws {
        let (dir, store, _) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServeProcess(store: store, ["--max-body", "4096"])
        defer { server.stop() }
        let base = server.base
        func refused(_ body: Any, _ status: Int, _ words: String) throws {
            let reply = try HTTP.post(base + "/search", body)
            expectValid(reply, "/search", method: "post", status: status)
            #expect((reply.object["error"] as? String ?? "").contains(words), "\(reply.object)")
        }
        try refused(["vector": [1, 2, 3]], 400, "dim is 8")
        try refused(["vectors": [[Float](repeating: 1, count: 8), [1, 2]]], 400, "vector 1 has 2 values")
        try refused(["path": "nobody/none.jpg"], 404, "not in the store")
        try refused(["path": "person_3/img_33.jpg"], 404, "failed row")
        try refused(["row": 19], 404, "failed row")
        try refused(["row": 600], 404, "not in the store")
        try refused(["row": 1, "path": "person_1/img_1.jpg"], 400, "exactly one")
        try refused(["row": 1, "top": 0], 400, "top must be")
        try refused(["row": 1, "labels": ["nobody"]], 400, "neither a name")
        try refused(["vector": [Float](repeating: 0, count: 8)], 400, "all zeros")
        try refused(["image": Data("not an image at all".utf8).base64EncodedString()], 415, "not a JPEG or PNG")
        try refused(["image": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="], 400, "needs the server started with --model")
        // NaN is not JSON; clients that write it anyway are told what is wrong.
        let nan = try HTTP.request(base + "/search", method: "POST", body: Data(#"{"vector": [NaN, 1, 1, 1, 1, 1, 1, 1]}"#.utf8))
        expectValid(nan, "/search", method: "post", status: 400)
        #expect((nan.object["error"] as? String ?? "").contains("finite"))
        let notJSON = try HTTP.request(base + "/search", method: "POST", body: Data("{row: 1".utf8))
        expectValid(notJSON, "/search", method: "post", status: 400)
        let big = try HTTP.post(base + "/search", ["vector": [Float](repeating: 1.2345678, count: 1000)])
        expectValid(big, "/search", method: "post", status: 413)
        expectValid(try HTTP.request(base + "/rows/abc"), "/rows/{row}", status: 400)
        expectValid(try HTTP.request(base + "/rows/60"), "/rows/{row}", status: 404)
        expectValid(try HTTP.request(base + "/identities/nobody"), "/identities/{label}", status: 404)
        expectValid(try HTTP.request(base + "/identities/ann?limit=0"), "/identities/{label}", status: 400)
        expectValid(try HTTP.request(base + "/failures?category=nothing"), "/failures", status: 404)
        // Still serving.
        expectValid(try HTTP.post(base + "/search", ["row": 1]), "/search", method: "post", status: 200)
    }

    @Test func aTokenIsNeededOffLoopbackAndChecked() throws {
        let (dir, store, _) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let open = try MagfleetProcess.run(["serve", store, "--bind", "0.0.0.0:0"], timeout: 60)
        #expect(open.status != 0)
        #expect(open.stderr.contains("--token"))
        let server = try ServeProcess(store: store, ["--token", "s3cret-token"])
        defer { server.stop() }
        let none = try HTTP.request(server.base + "/info")
        expectValid(none, "/info", status: 401)
        let wrong = try HTTP.request(server.base + "/info", headers: ["Authorization: Bearer wrong"])
        expectValid(wrong, "/info", status: 401)
        #expect(try HTTP.post(server.base + "/search", ["row": 1]).status == 401)
        expectValid(try HTTP.request(server.base + "/info", headers: ["Authorization: Bearer s3cret-token"]), "/info", status: 200)
        #expect(try HTTP.request(server.base + "/thumbs/1?token=s3cret-token").status == 200)
    }

    @Test func sigtermStopsGracefully() throws {
        let (dir, store, _) = try makeServeStore()
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = try ServeProcess(store: store)
        #expect(try HTTP.request(server.base + "/info").status == 200)
        let status = server.stop()
        #expect(status == 0, "\(server.text)")
        #expect(server.text.contains("magfleet serve: stopped"))
        #expect(try HTTP.request(server.base + "/info").status == 0)  // nothing listens
    }
}

/// Search by an uploaded image with a real (random-weight) iresnet18: the image of a stored row
/// finds that row first, and a server given another model refuses to start, as `query` does.
@Suite struct ServeImageSearchTests {
    @Test func anUploadedImageFindsItsOwnRowAndAnotherModelIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-serve-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        for (seed, name) in [("5", "r18.pth"), ("6", "other.pth")] {
            let made = try MagfleetProcess.run(["model", "random", "--arch", "iresnet18", "--seed", seed, "--out", path(name)], timeout: 300)
            try #require(made.status == 0, "\(made.stderr)")
        }
        let demo = try MagfleetProcess.run(["demo", "data", "--out", path("demo")], timeout: 300)
        try #require(demo.status == 0, "\(demo.stderr)")
        let list = try String(contentsOfFile: path("demo/images.list"), encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }.prefix(6)  // rows are the list's non-comment lines
        try (list.joined(separator: "\n") + "\n").write(toFile: path("six.list"), atomically: true, encoding: .utf8)
        let extract = try MagfleetProcess.run(["extract", "--list", path("six.list"), "--root", path("demo/images"), "--model", path("r18.pth"),
                                               "--out", path("s.h5"), "--workers", "1", "--threads", "1", "--no-progress"], timeout: 600)
        try #require(extract.status == 0, "\(extract.stderr)")

        let server = try ServeProcess(store: path("s.h5"), ["--model", path("r18.pth"), "--image-root", path("demo/images")])
        defer { server.stop() }
        let third = String(list[2].split(separator: " ")[0])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("demo/images/" + third)))
        let reply = try HTTP.post(server.base + "/search", ["image": bytes.base64EncodedString(), "top": 3])
        #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
        let results = try #require((reply.object["results"] as? [[String: Any]])?.first?["neighbors"] as? [[String: Any]], "\(reply.object)")
        // Random weights map faces close together, so another row may tie within rounding:
        // the image's own row is found with cosine 1 (within 1e-5), and nothing scores higher.
        let own = try #require(results.first { $0["row"] as? Int == 2 }, "\(results)")
        let score = own["score"] as? Double ?? 0
        #expect(score > 0.99999, "the same image, the same model: cosine 1 within 1e-5")
        #expect((results.first?["score"] as? Double ?? 2) <= score + 1e-6, "\(results)")
        #expect(own["path"] as? String == third)

        let refused = try MagfleetProcess.run(["serve", path("s.h5"), "--model", path("other.pth"), "--bind", "127.0.0.1:0"], timeout: 300)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is not the model that made this store"), "\(refused.stderr)")
    }
}
