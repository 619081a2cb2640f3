import ArgumentParser
import Cluster
import Foundation
import Wire
import ZeroMQ
import Base
import ClusterCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask a running coordinator for workers, throughput and shards.")

    @Option(help: "The coordinator's endpoint.") var connect: String
    @Option(help: "A CURVE key file in the coordinator's allowlist.") var curveKey: String?
    @Option(help: "The coordinator's public key.") var serverKey: String?
    @Option(help: "Give up after this many milliseconds.") var timeoutMs: Int = 3_000
    @Flag(help: "Print the reply as JSON (the StatusReply message of Protocols/magfleet.proto, in protobuf's JSON mapping).")
    var json = false

    func run() throws {
        let context = try Context()
        let socket = try Socket(context, .dealer)
        if let curveKey, let serverKey {
            try socket.makeCurveClient(keys: try CurveKeyPair.read(secretFile: curveKey), serverKey: try CurveKeyPair.readPublicKey(serverKey))
        }
        try socket.connect(connect)
        try socket.send([WireCodec.encode(WireCodec.envelope(.statusRequest(StatusRequest())))], wait: true)
        let deadline = MonotonicClock.now() + Millis(timeoutMs)
        while MonotonicClock.now() < deadline {
            guard try Poller().readable([socket], timeoutMilliseconds: 100)[0], let frames = try socket.receive(), frames.count == 1,
                  let envelope = try? WireCodec.decode(frames[0]), case let .statusReply(s) = envelope.body else { continue }
            if json {
                print(try s.jsonString())
                return
            }
            print(Self.describe(s), terminator: "")
            return
        }
        let hint = curveKey == nil
            ? "; if it uses CURVE, pass --curve-key (a key in its allowlist) and --server-key: it does not answer a client without a key"
            : "; is --curve-key in its allowlist, and --server-key its public key?"
        Console.error("no status reply from \(connect) within \(timeoutMs) ms\(hint)")
        throw ExitCode(1)
    }

    /// The reply as a person reads it.
    static func describe(_ s: StatusReply) -> String {
        var out = ""
        func line(_ text: String) { out += text + "\n" }
        if s.insecure { line("warning: this coordinator serves plain TCP on an address that is not loopback (--insecure)") }
        line("run \(s.runID): \(s.imagesDone + s.imagesFailed)/\(s.totalImages) images (\(s.imagesFailed) failed), "
             + "\(s.imagesInProgress) in leased shards, \(String(format: "%.0f", s.imagesPerSecond)) images/s")
        if !s.failuresByCategory.isEmpty {
            line("failed by category: " + s.failuresByCategory.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        line("shards: \(s.shardsDone) done, \(s.shardsLeased) leased, \(s.shardsPending) pending\(s.listExhausted ? "" : " (list still being read)")")
        let l = s.leases
        line("leases: \(l.granted) granted, \(l.completed) completed, \(l.lateResults) late results taken, \(l.released) handed back "
             + "(\(l.refusedFull) refused as full), \(l.revoked) revoked, \(l.reconciled) reconciled; lost: \(l.lostVanished) to vanished "
             + "workers, \(l.lostStalled) to stalls, \(l.lostExpired) expired")
        line("workers: \(s.workers.count)")
        for w in s.workers {
            var notes: [String] = []
            if w.draining { notes.append("draining") }
            if w.stalled { notes.append("STALLED \(w.stepMs / 1000) s in one step") }
            line("  \(w.workerID) on \(w.hostname): \(w.leases) leases, \(w.imagesDone) images, seen \(w.secondsSinceSeen) s ago"
                 + notes.map { ", \($0)" }.joined())
        }
        return out
    }
}
