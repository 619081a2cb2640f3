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
            print("run \(s.runID): \(s.imagesDone + s.imagesFailed)/\(s.totalImages) images (\(s.imagesFailed) failed), "
                  + "\(s.imagesInProgress) in leased shards, \(String(format: "%.0f", s.imagesPerSecond)) images/s")
            if !s.failuresByCategory.isEmpty {
                print("failed by category: " + s.failuresByCategory.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            print("shards: \(s.shardsDone) done, \(s.shardsLeased) leased, \(s.shardsPending) pending\(s.listExhausted ? "" : " (list still being read)")")
            print("workers: \(s.workers.count)")
            for w in s.workers {
                print("  \(w.workerID) on \(w.hostname): \(w.leases) leases, \(w.imagesDone) images, seen \(w.secondsSinceSeen) s ago\(w.draining ? ", draining" : "")")
            }
            return
        }
        Console.error("no status reply from \(connect) within \(timeoutMs) ms")
        throw ExitCode(1)
    }
}
