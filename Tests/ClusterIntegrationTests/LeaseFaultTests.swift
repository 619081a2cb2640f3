import Foundation
import Testing
import TestSupport
import ClusterCore

/// Issue "Faults a hostile operator finds": the lease faults, with real processes. Each test
/// bounds what used to storm (Release/Assign exchanges, log lines) and checks the store.
@Suite struct LeaseFaultTests {
    /// The `leases:` line of a coordinator's final summary, as numbers.
    struct Leases {
        var granted = 0, handedBack = 0, revoked = 0, lost = 0
        init(_ output: String) throws {
            let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("leases: ") }, "no leases line in:\n\(output)")
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            (granted, handedBack, revoked, lost) = (numbers[0], numbers[1], numbers[2], numbers[3])
        }
    }

    /// Writes `count` images, the ones in `special` with the given bytes.
    static func images(_ h: ClusterHarness, _ count: Int, special: [Int: String] = [:]) throws {
        try h.makeImages(count)
        for (i, bytes) in special { try Data(bytes.utf8).write(to: URL(fileURLWithPath: "\(h.directory)/img\(i).bin")) }
    }

    /// A shard that takes longer than `--lease-ms` on a live worker: its heartbeats renew the
    /// lease, so each shard is granted once and nothing is handed back, revoked or lost. (It
    /// was 715,591 "lease handed back" lines in 50 s.)
    @Test func aShardOutlivingItsLeaseIsRenewedNotStormed() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(12)
        // Heartbeats every 100 ms renew it; 1 s leaves room for a loaded machine's scheduling.
        try h.startCoordinator(["--lease-ms", "1000"])
        try h.startWorker("w", ["--test-delay-ms", "400"])  // 4 x 400 ms = 1.6 s per shard
        #expect(try h.waitForExit("coordinator", seconds: 60) == 0)
        let leases = try Leases(h.log("coordinator"))
        #expect(leases.granted == 3 && leases.handedBack == 0 && leases.revoked == 0 && leases.lost == 0, "\(h.allLogs)")
        #expect(h.log("coordinator").split(separator: "\n").count < 30)
        try h.expectCompleteStore(count: 12)
    }

    /// An image whose read stalls: the worker on it is stalled (its compute thread sits in one
    /// step past --stall-ms) and loses the lease to another worker, twice; then the image
    /// fails alone, its reason saying the workers stalled (not "died"). The other images are
    /// embedded by the worker left.
    @Test func aStallingImageFailsAloneSayingItsWorkersStalled() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try Self.images(h, 10, special: [5: "MAGFLEET-TEST-STALL 60000"])
        // A healthy step here takes milliseconds; 1.5 s is far from it even on a loaded machine.
        try h.startCoordinator(["--shard-size", "1", "--stall-ms", "1500", "--max-losses", "2", "--max-failures", "1"])
        for name in ["a", "b", "c"] { try h.startWorker(name) }
        #expect(try h.waitForExit("coordinator", seconds: 60) == 0, "\(h.allLogs)")
        let leases = try Leases(h.log("coordinator"))
        #expect(leases.lost == 2 && h.log("coordinator").contains("(0 vanished, 2 stalled, 0 expired)"), "\(h.allLogs)")
        #expect(leases.granted <= 10 + 2)
        #expect(h.log("coordinator").contains("worker stalled"))
        try h.expectCompleteStore(count: 10, failing: [5])
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        let failure = try #require(rows[5].failure)
        #expect(failure.category == RowFailure.Category.lost)
        #expect(failure.reason.contains("lost 2 times: its worker stalled on it"), "\(failure.reason)")
    }

    /// SIGTERM on a worker holding several leases: it says Drain, hands back what has not
    /// started once each, finishes the current shard and leaves; no Assign reaches it again.
    @Test func aDrainHandsEachQueuedLeaseBackOnce() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(24)
        try h.startCoordinator(["--shard-size", "2"])
        let w = try h.start("w", ["worker", "--connect", h.endpoint, "--embedder", "test", "--prefetch", "4", "--test-delay-ms", "200"]
                            + ClusterHarness.timers)
        try h.wait(30, "the first shard") { h.journaledShards >= 1 }
        kill(w.processIdentifier, SIGTERM)
        #expect(try h.waitForExit("w", seconds: 30) == 0)
        try h.startWorker("after")
        #expect(try h.waitForExit("coordinator", seconds: 60) == 0)
        let leases = try Leases(h.log("coordinator"))
        #expect(leases.handedBack <= 4 && leases.lost == 0, "\(h.allLogs)")
        #expect(!h.log("w").contains("Assign beyond prefetch"))
        #expect(h.log("coordinator").components(separatedBy: "lease handed back").count - 1 <= 4)
        try h.expectCompleteStore(count: 24)
    }

    /// kill -9 of the coordinator while a worker computes, then a restart on the same port: the
    /// worker's session is reset, both sides start from zero leases, and the rest of the run
    /// goes without a single refusal or hand-back. (It was 52,929 lines.)
    @Test func aRestartedCoordinatorAndItsWorkerAgreeOnTheLeases() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(24)
        try h.startCoordinator(["--shard-size", "2"])
        try h.start("w", ["worker", "--connect", h.endpoint, "--embedder", "test", "--prefetch", "3", "--test-delay-ms", "100"]
                    + ClusterHarness.timers)
        try h.wait(30, "the first shards") { h.journaledShards >= 2 }
        h.kill9("coordinator")
        try h.startCoordinator(["--shard-size", "2"], name: "again")
        #expect(try h.waitForExit("again", seconds: 60) == 0, "\(h.allLogs)")
        let leases = try Leases(h.log("again"))
        #expect(leases.handedBack == 0 && leases.revoked <= 1 && leases.lost == 0, "\(h.allLogs)")
        #expect(leases.granted <= 12)
        #expect(!h.log("w").contains("handing it back"))
        try h.expectCompleteStore(count: 24)
    }

    /// A NaN embedding is never stored: the worker fails that row ("non-finite"), the rest is
    /// stored, and the store holds no NaN.
    @Test func aNonFiniteEmbeddingFailsItsRow() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try Self.images(h, 8, special: [3: "MAGFLEET-TEST-NAN"])
        let r = try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                         "--embedder", "test", "--workers", "1", "--shard-size", "4", "--max-failures", "1"]
                                        + ClusterHarness.timers, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("non-finite 1"), "\(r.stdout)")
        try h.expectCompleteStore(count: 8, failing: [3])
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows[3].failure?.category == RowFailure.Category.nonFinite)
    }

    /// `--insecure` on an address that is not loopback is said at start and in every status.
    @Test func insecureIsSaidAtStartAndInStatus() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(4)
        try h.start("coordinator", ["coordinator", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                    "--bind", "tcp://0.0.0.0:\(h.port)", "--insecure", "--embedder", "test"] + ClusterHarness.timers)
        try h.wait(30, "the coordinator to serve") { h.log("coordinator").contains("coordinator serving") }
        #expect(h.log("coordinator").contains("serving plain TCP on an address that is not loopback (--insecure)"))
        let status = try MagfleetProcess.run(["status", "--connect", h.endpoint], timeout: 30)
        #expect(status.status == 0 && status.stdout.hasPrefix("warning: this coordinator serves plain TCP"), "\(status.stdout)")
        let json = try MagfleetProcess.run(["status", "--connect", h.endpoint, "--json"], timeout: 30)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["insecure"] as? Bool == true && object["totalImages"] as? Int == 4 && object["imagesFailed"] as? Int == 0)
        #expect((object["leases"] as? [String: Int])?["lostStalled"] == 0)
    }

    /// `status` without a key, against a CURVE coordinator (which never answers it), says that
    /// this is the likely reason instead of only timing out.
    @Test func statusWithoutAKeyOnACurveCoordinatorSaysWhy() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(4)
        for name in ["server", "client"] { try MagfleetProcessRun(["keygen", "--out", h.directory + "/" + name]) }
        try h.startCoordinator(["--curve-key", h.directory + "/server.key", "--allow", h.directory + "/client.pub"])
        try h.wait(30, "the coordinator to serve") { h.log("coordinator").contains("coordinator serving") }
        let bare = try MagfleetProcess.run(["status", "--connect", h.endpoint, "--timeout-ms", "500"], timeout: 30)
        #expect(bare.status == 1 && bare.stderr.contains("if it uses CURVE, pass --curve-key"), "\(bare.stderr)")
        let keyed = try MagfleetProcess.run(["status", "--connect", h.endpoint, "--curve-key", h.directory + "/client.key",
                                             "--server-key", h.directory + "/server.pub"], timeout: 30)
        #expect(keyed.status == 0 && keyed.stdout.contains("leases: 0 granted"), "\(keyed.stdout)\(keyed.stderr)")
    }
}
