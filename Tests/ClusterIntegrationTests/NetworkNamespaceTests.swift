import Foundation
import Testing
@testable import Cluster

/// A worker in its own network namespace (ip netns + veth, made and removed by the test; only
/// addresses inside 10.213.0.0/16 on interfaces the test creates). Needs root and iproute2;
/// skipped otherwise.
@Suite(.serialized, .enabled(if: NetworkNamespace.available))
struct NetworkNamespaceTests {
    @Test func aCutLinkGetsTheShardReassignedAndTheLateResultCountsOnce() throws {
        let h = try ClusterHarness()
        let net = try NetworkNamespace()
        defer {
            h.shutdown()
            net.remove()
        }
        try h.makeImages(200)
        // Short leases, a long heartbeat timeout: a cut shorter than the timeout keeps the TCP
        // session; the cut stops the heartbeats that renew the lease, so it expires, and the
        // isolated worker's result arrives after its lease was reassigned.
        try h.start("coordinator", ["coordinator", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                    "--bind", "tcp://*:\(h.port)", "--insecure", "--embedder", "test", "--shard-size", "4",
                                    "--lease-ms", "700", "--heartbeat-ms", "100", "--heartbeat-timeout-ms", "8000"])
        let worker = ["--embedder", "test", "--prefetch", "1", "--log-level", "debug"]
        try h.start("isolated", ["netns", "exec", net.name, MagfleetExecutable.path, "worker",
                                 "--connect", "tcp://\(net.hostAddress):\(h.port)", "--test-delay-ms", "60"] + worker, executable: "/usr/sbin/ip")
        try h.wait(15, "the isolated worker to hold a lease") { h.log("coordinator").contains("worker joined") && h.journaledShards >= 1 }
        try net.setLink(up: false)
        try h.startWorker("w1", ["--test-delay-ms", "40"])
        try h.startWorker("w2", ["--test-delay-ms", "40"])
        try h.wait(20, "the isolated worker's lease to expire") { h.log("coordinator").contains("lease expired") }
        // The isolated worker finishes its shard; its Result waits in TCP behind the cut link.
        try h.wait(20, "the isolated worker to send its Result") { h.log("isolated").contains("result sent") }
        try net.setLink(up: true)
        #expect(try h.waitForExit("coordinator", seconds: 40) == 0)
        // The late Result is taken if its shard is still unfinished (first result wins), else
        // dropped (Protocols/README.md 4.3); either way every row is in the store once.
        let log = h.log("coordinator")
        #expect(log.contains("dropped a late or duplicate result") || log.contains("accepted a late result"), "\(log)")
        try h.expectCompleteStore(count: 200)
    }
}

enum MagfleetExecutable {
    static var path: String { TestSupportExecutable.url.path }
}

import TestSupport
enum TestSupportExecutable {
    static var url: URL { MagfleetProcess.executable }
}

/// A network namespace joined to the host by a veth pair: host 10.213.N.1/30, inside .2/30.
final class NetworkNamespace {
    let name: String
    let hostInterface: String
    let hostAddress: String
    let innerAddress: String

    static var available: Bool {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
        let probe = "mfprobe\(getpid())"
        guard (try? NetworkNamespace.ip(["netns", "add", probe])) != nil else { return false }
        try? NetworkNamespace.ip(["netns", "del", probe])
        return true
    }

    init() throws {
        let n = Int.random(in: 1..<250)
        name = "mf\(getpid())x\(n)"
        hostInterface = "mfh\(n)x\(getpid() % 10000)"
        let inner = "mfn\(n)x\(getpid() % 10000)"
        hostAddress = "10.213.\(n).1"
        innerAddress = "10.213.\(n).2"
        try Self.ip(["netns", "add", name])
        try Self.ip(["link", "add", hostInterface, "type", "veth", "peer", "name", inner])
        try Self.ip(["link", "set", inner, "netns", name])
        try Self.ip(["addr", "add", "\(hostAddress)/30", "dev", hostInterface])
        try Self.ip(["link", "set", hostInterface, "up"])
        try Self.ip(["netns", "exec", name, "ip", "addr", "add", "\(innerAddress)/30", "dev", inner])
        try Self.ip(["netns", "exec", name, "ip", "link", "set", inner, "up"])
        try Self.ip(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
    }

    func setLink(up: Bool) throws { try Self.ip(["link", "set", hostInterface, up ? "up" : "down"]) }

    func remove() {
        try? Self.ip(["link", "del", hostInterface])
        try? Self.ip(["netns", "del", name])
    }

    struct Failed: Error { var arguments: [String] }

    static func ip(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Failed(arguments: arguments) }
    }
}
