import Base
import Foundation
import IResNet
import Imaging
import Testing
import Wire
import ZeroMQ
@testable import Cluster
import ClusterCore
@testable import magfleet

/// One coordinator and three workers as real processes on loopback (see ClusterHarness).
/// Serialized: the processes compete for the same two cores.
@Suite(.serialized)
struct ClusterIntegrationTests {
    @Test func killingAWorkerMidShardLosesNoRowAndDuplicatesNone() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(160)
        try h.startCoordinator()
        try h.startWorker("w1", ["--test-delay-ms", "100"])
        for w in ["w2", "w3"] { try h.startWorker(w, ["--test-delay-ms", "15"]) }
        try h.wait(20, "a few shards") { h.journaledShards >= 4 }
        h.kill9("w1")  // prefetch 1 and 400 ms shards: it is almost surely mid-shard now
        #expect(try h.waitForExit("coordinator", seconds: 40) == 0)
        #expect(h.log("coordinator").contains("worker vanished"))
        #expect(h.log("coordinator").contains("leases=1"))  // it died holding a lease
        try h.expectCompleteStore(count: 160)
    }

    @Test func aRestartedCoordinatorResumesAndFinishesTheSame() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(160)
        try h.startCoordinator()
        for w in ["w1", "w2", "w3"] { try h.startWorker(w, ["--test-delay-ms", "15"]) }
        try h.wait(20, "a few shards") { h.journaledShards >= 5 }
        h.kill9("coordinator")
        let before = h.journaledShards
        try h.startCoordinator(name: "coordinator2")
        #expect(try h.waitForExit("coordinator2", seconds: 40) == 0)
        #expect(h.log("coordinator2").contains("resuming"))
        #expect(h.journaledShards >= before)
        try h.expectCompleteStore(count: 160)
        for w in ["w1", "w2", "w3"] { #expect(try h.waitForExit(w, seconds: 10) == 0) }
    }

    @Test func aWorkerWithAnotherModelIsRefusedAndBothSidesSayWhy() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(8)
        try h.startCoordinator()
        try h.startWorker("odd", ["--test-dim", "16"])
        #expect(try h.waitForExit("odd", seconds: 15) == 2)
        #expect(h.log("odd").contains("dim 16 != 8"))
        #expect(h.log("coordinator").contains("refused a worker"))
        #expect(h.journaledShards == 0)
    }

    @Test func onlyAllowlistedCurveKeysGetWork() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(12)
        for name in ["server", "good", "rogue"] {
            _ = try MagfleetProcessRun(["keygen", "--out", h.directory + "/" + name])
        }
        try FileManager.default.copyItem(atPath: h.directory + "/good.pub", toPath: h.directory + "/allow.txt")
        try h.startCoordinator(["--curve-key", h.directory + "/server.key", "--allow", h.directory + "/allow.txt"])
        let curve = { (name: String) in ["--curve-key", h.directory + "/\(name).key", "--server-key", h.directory + "/server.pub"] }
        try h.startWorker("rogue", curve("rogue"))
        try h.startWorker("plain")  // no CURVE at all
        try h.wait(15, "the ZAP refusal") { h.log("coordinator").contains("not in the allowlist") }
        // Both gave up waiting for a Welcome at least once: they were never admitted.
        try h.wait(15, "the rogue and plain workers to time out their greeting") {
            ["rogue", "plain"].allSatisfy { h.log($0).contains("no Welcome from the coordinator") }
        }
        #expect(h.journaledShards == 0)
        #expect(!h.log("coordinator").contains("worker joined"))
        try h.startWorker("good", curve("good"))
        #expect(try h.waitForExit("coordinator", seconds: 30) == 0)
        try h.expectCompleteStore(count: 12)
        #expect(h.processes["rogue"]?.isRunning == true)  // still knocking, never welcomed
    }

    @Test func garbageFromARawClientLeavesTheCoordinatorServing() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(12)
        try h.startCoordinator(["--max-message-bytes", "65536"])
        let context = try Context()
        let raw = try Socket(context, .dealer)
        try raw.connect(h.endpoint)
        var rng = SeededGenerator(seed: 7)
        var junk: [[[UInt8]]] = [[[]], [[0xff]], [[1, 2, 3], [4, 5]], [[0x08, 0x01]], [[0x08, 0x02, 0x5a, 0x00]]]
        for n in 0..<300 { junk.append([(0..<(n % 97)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }]) }
        // A Result for a shard never leased, a Welcome (wrong direction), a Hello of version 9.
        junk.append([WireCodec.encode(WireCodec.envelope(.result(ShardResultMessage.with { $0.shardFirst = 0; $0.shardCount = 4 })))])
        junk.append([WireCodec.encode(WireCodec.envelope(.welcome(Welcome())))])
        var v9 = WireCodec.envelope(.hello(Hello()))
        v9.protocolVersion = 9
        junk.append([WireCodec.encode(v9)])
        for message in junk { try raw.send(message, wait: true) }
        // Seen and dropped, before anything else happens (libzmq delivers messages from two
        // sockets in no fixed order, and the run below is over in a fraction of a second).
        try h.wait(10, "the coordinator to drop the garbage") { h.log("coordinator").contains("dropped") }
        // Last, a message over the size limit: libzmq cuts that connection.
        try raw.send([Array(repeating: 0x41, count: 100_000)], wait: true)
        // The coordinator still answers (a fresh socket: libzmq cut the one that sent 100 kB).
        let probe = try Socket(context, .dealer)
        try probe.connect(h.endpoint)
        try probe.send([WireCodec.encode(WireCodec.envelope(.statusRequest(StatusRequest())))], wait: true)
        var reply: StatusReply?
        try h.wait(10, "a StatusReply") {
            guard (try? Poller().readable([probe], timeoutMilliseconds: 50))?.first == true,
                  let frames = try? probe.receive(), let f = frames.first,
                  case let .statusReply(s)? = (try? WireCodec.decode(f))?.body else { return false }
            reply = s
            return true
        }
        #expect(reply?.totalImages == 12)
        try h.startWorker("w1")
        #expect(try h.waitForExit("coordinator", seconds: 30) == 0)
        try h.expectCompleteStore(count: 12)
        #expect(h.log("coordinator").contains("dropped"))
    }

    @Test func sigtermMakesAWorkerFinishItsShardAndLeave() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        // Enough work that the run is far from over when w1 leaves: had w1's last shard been the
        // run's last, the coordinator could finish before it reads the Bye (seen once, under
        // the whole suite's load).
        try h.makeImages(192)
        // A generous heartbeat timeout: under a loaded CI machine a starved worker must not be
        // declared vanished, or its Bye would come from an unknown peer.
        try h.startCoordinator(["--heartbeat-timeout-ms", "5000"])
        for w in ["w1", "w2", "w3"] { try h.startWorker(w, ["--test-delay-ms", "40", "--heartbeat-timeout-ms", "5000"]) }
        try h.wait(20, "a few shards") { h.journaledShards >= 3 }
        let w1 = try #require(h.processes["w1"])
        kill(w1.processIdentifier, SIGTERM)
        #expect(try h.waitForExit("w1", seconds: 10) == 0)
        #expect(h.log("w1").contains("drained after SIGTERM"))
        #expect(try h.waitForExit("coordinator", seconds: 40) == 0)
        // w1's log too: once (2026-11-30, under the whole suite's load) the coordinator heard
        // nothing from w1 for 5 s after its Hello, though w1 drained and exited 0.
        #expect(h.log("coordinator").contains("worker left"), "w1's log:\n\(h.log("w1"))")
        try h.expectCompleteStore(count: 192)
    }

    @Test func aPoisonImageThatKillsWorkersFailsAlone() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(24)
        try Data("MAGFLEET-TEST-CRASH".utf8).write(to: URL(fileURLWithPath: h.directory + "/img9.bin"))
        try h.startCoordinator(["--max-losses", "2", "--max-failures", "1"])  // the one poison row is tolerated
        var alive = ["w0", "w1", "w2"]
        for w in alive { try h.startWorker(w) }
        // Replace each worker the poison image kills, as a supervisor would.
        var spawned = 3
        try h.wait(45, "the coordinator to finish") {
            for (i, name) in alive.enumerated() where h.processes[name]?.isRunning == false {
                spawned += 1
                alive[i] = "w\(spawned)"
                try? h.startWorker(alive[i])
            }
            return h.processes["coordinator"]?.isRunning == false
        }
        #expect(h.processes["coordinator"]?.terminationStatus == 0)
        #expect(spawned >= 4)  // 2 losses of the 4-image shard + 2 of the single image
        #expect(h.log("coordinator").contains("image failed alone"))
        #expect(h.log("coordinator").contains("failed rows by category: lost 1"))
        try h.expectCompleteStore(count: 24, failing: [9])
    }

    @Test func shippedImagesNeedNoSharedStorageAndRootMapsPaths() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(16)
        // A list of relative paths: the coordinator reads them under --root and ships them.
        let relative = (0..<16).map { "img\($0).bin" }.joined(separator: "\n")
        try relative.write(toFile: h.listPath, atomically: true, encoding: .utf8)
        try h.startCoordinator(["--ship-images", "--root", h.directory])
        try h.startWorker("shipped", ["--root", "/nonexistent"])  // its root is never used
        #expect(try h.waitForExit("coordinator", seconds: 30) == 0)
        try h.expectCompleteStore(count: 16, root: h.directory + "/")
        // The same list without shipping: the worker maps paths with its own --root.
        try FileManager.default.removeItem(atPath: h.runDirectory)
        try h.startCoordinator(name: "coordinator2")
        try h.startWorker("rooted", ["--root", h.directory])
        #expect(try h.waitForExit("coordinator2", seconds: 30) == 0)
        try h.expectCompleteStore(count: 16, root: h.directory + "/")
    }

    @Test func statusCommandReportsWorkersAndShards() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(400)
        try h.startCoordinator()
        try h.startWorker("w1", ["--test-delay-ms", "60"])
        try h.wait(20, "a shard") { h.journaledShards >= 1 }
        let out = try MagfleetProcessRun(["status", "--connect", h.endpoint])
        #expect(out.contains("/400 images"))
        #expect(out.contains("workers: 1"))
        #expect(out.contains("1 leased"))
    }

    @Test func extractRunsACoordinatorAndLocalWorkersAndResumes() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(40)
        try Data("MAGFLEET-TEST-FAIL".utf8).write(to: URL(fileURLWithPath: h.directory + "/img3.bin"))  // undecodable
        try FileManager.default.removeItem(atPath: h.directory + "/img7.bin")  // missing
        let args = ["extract", "--list", h.listPath, "--out", h.storePath, "--workers", "3", "--embedder", "test", "--max-failures", "5%",
                    "--shard-size", "4"] + ClusterHarness.timers
        let out = try MagfleetProcessRun(args)
        #expect(out.contains("merged 40 rows (38 embedded, 2 failed)"))
        try h.expectCompleteStore(count: 40, failing: [3, 7])
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows[7].outcome == .failure(RowFailure(category: "missing-file", reason: "\(h.directory)/img7.bin: no such file")))
        #expect(out.contains("failed rows by category: corrupt 1, missing-file 1"))
        // Again with the same --out: everything is journaled, nothing is recomputed.
        let again = try MagfleetProcessRun(args)
        #expect(again.contains("this run: 0 images"))
        try h.expectCompleteStore(count: 40, failing: [3, 7])
    }

    @Test func bindingBeyondLoopbackWithoutCurveNeedsInsecure() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(4)
        let r = try MagfleetProcess.run(["coordinator", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                         "--bind", "tcp://*:\(h.port)", "--embedder", "test"], timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains("--insecure"))
    }

    @Test func theRealEngineGivesTheSameStoreOnThreeWorkersAsOnOne() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let model = h.directory + "/r18.pth"
        try MagfleetProcessRun(["model", "random", "--arch", "iresnet18", "--out", model])
        let faces = SyntheticFaces(seed: 11)
        var lines: [String] = []
        for i in 0..<10 {
            let pixels = faces.render(faces.identity(i % 4), variant: i)
            let path = h.directory + "/face\(i).jpg"
            try Data(try JPEGEncoder.encode(BGRImage(width: 112, height: 112, pixels: pixels))).write(to: URL(fileURLWithPath: path))
            lines.append(path)
        }
        try lines.joined(separator: "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        var stores: [[ShardRow]] = []
        for workers in [3, 1] {
            let out = h.directory + "/store\(workers).h5"
            try MagfleetProcessRun(["extract", "--list", h.listPath, "--out", out, "--workers", "\(workers)", "--model", model,
                                    "--threads", "1", "--shard-size", "4"] + ClusterHarness.timers)
            stores.append(try StoreReadback.rows(of: out).rows)
        }
        // Same shards, so same batch composition: every row is bit-identical.
        #expect(stores[0] == stores[1])
        // And each row equals this process's own forward pass of that image (batch of one:
        // float32 rounding may differ from the 4-image batches; cosine >= 0.999999).
        let loader = ImagingLoader()
        let embedder = IResNetEmbedder(network: try IResNet(checkpoint: URL(fileURLWithPath: model)), preprocessing: Preprocessing())
        let (provenance, rows) = try StoreReadback.rows(of: h.directory + "/store3.h5")
        #expect(provenance.modelFingerprint == embedder.network.fingerprint)
        #expect(provenance.randomWeights)
        #expect(rows.count == 10)
        for row in rows {
            guard case let .embedding(v) = row.outcome else { Issue.record("row \(row.index) failed"); continue }
            let w: [Float] = try embedder.embed(try loader.load(ImageInput(path: row.path)).get(), count: 1)
            let dot: Float = zip(v, w).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let norms: Float = v.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot() * w.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
            let cosine = dot / norms
            #expect(cosine >= 0.999999, "row \(row.index)")
        }
        // Query by a new image: decoded and embedded with the store's model, it finds itself.
        let hit = try MagfleetProcessRun(["query", h.directory + "/store3.h5", "--image", lines[3], "--model", model, "-k", "1", "--json"])
        let answers = try JSONSerialization.jsonObject(with: Data(hit.utf8)) as? [[String: Any]]
        let top = try #require((answers?.first?["neighbors"] as? [[String: Any]])?.first)
        #expect(top["path"] as? String == lines[3])
        #expect((top["score"] as? Double ?? 0) >= 0.99999)  // batch of one vs a shard's batch: float rounding
        // A different model is refused: its distances to this store's features mean nothing.
        let other = h.directory + "/other.pth"
        try MagfleetProcessRun(["model", "random", "--arch", "iresnet18", "--seed", "2", "--out", other])
        let refused = try MagfleetProcess.run(["query", h.directory + "/store3.h5", "--image", lines[3], "--model", other], timeout: 30)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is not the model that made"))

        // The engine's ways, as workers run them: the fast path (PanelGEMM on the CPU's widest
        // kernel), on an AVX-512 CPU also its AVX2 kernel (MAGFLEET_NO_AVX512=1, what a CPU
        // without AVX-512 runs), the fast path on OpenBLAS (MAGFLEET_GEMM=openblas), and --exact.
        // Same rows, embeddings at cosine >= 0.99999.
        var variants: [(name: String, rows: [ShardRow], bar: Float)] = [("fast", try StoreReadback.rows(of: h.directory + "/store1.h5").rows, 1)]
        var ways: [(String, [String], [String: String])] = [("openblas", [], ["MAGFLEET_GEMM": "openblas"]), ("exact", ["--exact"], [:])]
        if HostCPU.hasAVX512 { ways.insert(("avx2", [], ["MAGFLEET_NO_AVX512": "1"]), at: 0) }
        for (name, flags, env) in ways {
            let out = h.directory + "/store-\(name).h5"
            let r = try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", out, "--workers", "1", "--model", model,
                                             "--threads", "1", "--shard-size", "4"] + flags + ClusterHarness.timers,
                                            environment: env, timeout: 120)
            #expect(r.status == 0, "\(name): \(r.stderr)")
            variants.append((name, try StoreReadback.rows(of: out).rows, 0.99999))
        }
        // And --precision bf16 where the CPU has it: workers and coordinator agree on the +bf16
        // fingerprint, the store records it, rows are within bf16's bar of the f32 ones
        // (cosine >= 0.9995), and `query --image` embeds in the store's precision.
        if HostCPU.hasAVX512BF16 {
            let bf16Store = h.directory + "/store-bf16.h5"
            let r = try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", bf16Store, "--workers", "1", "--model", model,
                                             "--threads", "1", "--shard-size", "4", "--precision", "bf16"] + ClusterHarness.timers,
                                            timeout: 120)
            #expect(r.status == 0, "bf16: \(r.stderr)")
            let (bf16Provenance, bf16Rows) = try StoreReadback.rows(of: bf16Store)
            #expect(bf16Provenance.modelFingerprint == embedder.network.fingerprint + "+bf16")
            variants.append(("bf16", bf16Rows, 0.9995))
            let found = try MagfleetProcessRun(["query", bf16Store, "--image", lines[3], "--model", model, "-k", "1", "--json"])
            let bf16Answers = try JSONSerialization.jsonObject(with: Data(found.utf8)) as? [[String: Any]]
            let bf16Top = try #require((bf16Answers?.first?["neighbors"] as? [[String: Any]])?.first)
            #expect(bf16Top["path"] as? String == lines[3])
        }
        for (name, rows, bar) in variants.dropFirst() {
            #expect(rows.map(\.path) == variants[0].rows.map(\.path))
            for (a, b) in zip(rows, variants[0].rows) {
                guard case let .embedding(v) = a.outcome, case let .embedding(w) = b.outcome else {
                    Issue.record("\(name) row \(a.index) failed"); continue
                }
                let dot = zip(v, w).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                let cosine = dot / (v.reduce(0) { $0 + $1 * $1 }.squareRoot() * w.reduce(0) { $0 + $1 * $1 }.squareRoot())
                #expect(cosine >= bar, "\(name) row \(a.index): cosine \(cosine)")
            }
        }
    }
}

/// Runs magfleet to completion (short commands such as keygen).
@discardableResult
func MagfleetProcessRun(_ arguments: [String]) throws -> String {
    let r = try TestSupport.MagfleetProcess.run(arguments, timeout: 30)
    guard r.status == 0 else { throw HarnessTimeout(what: "magfleet \(arguments) exited \(r.status): \(r.stderr)", logs: "") }
    return r.stdout
}

import TestSupport
