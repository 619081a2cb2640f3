import ArgumentParser
import Cluster
import Foundation
import Wire
import ZeroMQ
import Base
import ClusterCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running coordinator for workers, throughput, shards and lease counters.",
        discussion: """
            A CURVE coordinator answers only a client whose key is in its allowlist. --json prints \
            every StatusReply field (docs/operations.md, "What you see while it runs").

            Examples:
              magfleet status --connect tcp://127.0.0.1:5555
              magfleet status --connect tcp://coord-host:5555 --json \\
                  --curve-key keys/node17.key --server-key keys/coordinator.pub
            """)

    @Option(help: "The coordinator's endpoint.") var connect: String
    @Option(help: "A CURVE key file in the coordinator's allowlist.") var curveKey: String?
    @Option(help: "The coordinator's public key.") var serverKey: String?
    @Option(help: "Give up after this many milliseconds.") var timeoutMs: Int = 3_000
    @Flag(help: "Print the reply as JSON: every field of StatusReply (Protocols/magfleet.proto), numbers as numbers, none left out.")
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
                try Console.printJSON(StatusDocument(s))
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

/// `status --json`: StatusReply with every field present, numbers as JSON numbers
/// (protobuf's own JSON mapping leaves zero fields out and writes 64-bit ones as strings).
struct StatusDocument: Codable {
    struct Worker: Codable {
        var workerId, hostname: String
        var leases: UInt32
        var imagesDone: UInt64
        var secondsSinceSeen: UInt32
        var draining, stalled: Bool
        var stepMs: UInt32
    }
    var runId: String
    var totalImages, imagesDone, imagesFailed, imagesInProgress: UInt64
    var shardsDone, shardsLeased, shardsPending: UInt64
    var listExhausted: Bool
    var imagesPerSecond: Double
    var failuresByCategory: [String: UInt64]
    var workers: [Worker]
    var leases: LeaseCountersDocument
    var insecure: Bool
    var leaseMs, stallMs: UInt64

    init(_ s: StatusReply) {
        runId = s.runID
        totalImages = s.totalImages
        imagesDone = s.imagesDone
        imagesFailed = s.imagesFailed
        imagesInProgress = s.imagesInProgress
        shardsDone = s.shardsDone
        shardsLeased = s.shardsLeased
        shardsPending = s.shardsPending
        listExhausted = s.listExhausted
        imagesPerSecond = s.imagesPerSecond
        failuresByCategory = s.failuresByCategory
        workers = s.workers.map {
            Worker(workerId: $0.workerID, hostname: $0.hostname, leases: $0.leases, imagesDone: $0.imagesDone,
                   secondsSinceSeen: $0.secondsSinceSeen, draining: $0.draining, stalled: $0.stalled, stepMs: $0.stepMs)
        }
        leases = LeaseCountersDocument(s.leases)
        insecure = s.insecure
        leaseMs = s.leaseMs
        stallMs = s.stallMs
    }
}

/// `LeaseCounters` (Protocols/README.md 4.6) as JSON, in `status --json` and a run's `--json` summary.
struct LeaseCountersDocument: Codable {
    var granted, completed, lateResults, released, refusedFull, revoked, reconciled: UInt64
    var lostVanished, lostStalled, lostExpired: UInt64

    init(_ l: LeaseCounters) {
        (granted, completed, lateResults, released, refusedFull) = (l.granted, l.completed, l.lateResults, l.released, l.refusedFull)
        (revoked, reconciled, lostVanished, lostStalled, lostExpired) = (l.revoked, l.reconciled, l.lostVanished, l.lostStalled, l.lostExpired)
    }
}
