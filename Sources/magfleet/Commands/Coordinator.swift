import ArgumentParser
import Cluster
import FeatureStore
import Foundation
import ZeroMQ

struct Coordinator: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shard an image list over ZeroMQ to workers; journal, resume, merge into a store.",
        discussion: "Protocol: Protocols/README.md. Operations: docs/cluster.md.")

    @Option(help: "Image list: one path per line.") var list: String
    @Option(help: "The store to write at the end.") var out: String
    @Option(help: "ZeroMQ endpoint to bind.") var bind: String = "tcp://127.0.0.1:5555"
    @Option(help: "Run directory: journal and shard files; the same one resumes a run.") var runDir: String
    @Option(help: "Images per shard.") var shardSize: Int = 256
    @Flag(help: "Send image bytes to workers (hosts without shared storage).") var shipImages = false
    @Option(help: "With --ship-images: prepended to list paths when reading them here.") var root: String?
    @Option(help: "This coordinator's CURVE key file (from `magfleet keygen`); enables CURVE.") var curveKey: String?
    @Option(help: "Allowlist of worker public keys: a file (one per line) or a directory of .pub files.") var allow: String?
    @Flag(help: "Allow binding a non-loopback address without CURVE.") var insecure = false
    @Option(help: "A lease runs out this long after it was granted, milliseconds.") var leaseMs: Int = 600_000
    @Option(help: "Lost leases before a shard is split into single images / an image fails.") var maxLosses: Int = 3
    @Option(help: "Largest prefetch a worker may claim.") var maxPrefetch: Int = 16
    @Option(help: "Largest inbound message, bytes; bigger ones are dropped.") var maxMessageBytes: Int = 64 << 20
    @Flag(inversion: .prefixedNo, help: "Draw a progress line on a terminal.") var progress = true
    @OptionGroup var model: EmbedderOptions
    @OptionGroup var timing: TimingOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        if curveKey == nil, !isLoopback(bind), !insecure {
            throw ValidationError("binding \(bind) without CURVE exposes the coordinator; pass --curve-key and --allow, or --insecure")
        }
        if (curveKey == nil) != (allow == nil) { throw ValidationError("--curve-key and --allow go together") }
        guard shardSize >= 1, leaseMs >= 1, maxLosses >= 1, maxPrefetch >= 1 else {
            throw ValidationError("--shard-size, --lease-ms, --max-losses, --max-prefetch must be positive")
        }
    }

    func run() throws {
        let logger = log.makeLogger("magfleet.coordinator")
        let (embedder, _) = try model.make()
        let service = try makeService(embedder: embedder, logger: logger)
        let outcome = try service.run(stop: StopFlag(signals: [SIGINT, SIGTERM]), onBound: { endpoint in
            logger.info("bound", metadata: ["endpoint": "\(endpoint)"])
        })
        try Coordinator.report(outcome)
    }

    func makeService(embedder: FaceEmbedder, logger: Logging.Logger, bindOverride: String? = nil) throws -> CoordinatorService {
        let info = embedder.model
        var settings = CoordinatorMachine.Settings(model: info, runID: URL(fileURLWithPath: runDir).lastPathComponent)
        settings.leaseMilliseconds = Millis(leaseMs)
        settings.heartbeatInterval = Millis(timing.heartbeatMs)
        settings.heartbeatTimeout = Millis(timing.heartbeatTimeoutMs)
        settings.maxLosses = UInt32(maxLosses)
        settings.maxPrefetch = UInt32(maxPrefetch)
        settings.shipImages = shipImages
        var options = CoordinatorService.Options(bind: bindOverride ?? bind, listPath: list, runDirectory: runDir, output: out)
        options.shardSize = shardSize
        options.shipRoot = root
        options.maxMessageBytes = maxMessageBytes
        options.progress = progress && Console.isTerminal
        if let curveKey, let allow {
            options.curve = (try CurveKeyPair.read(secretFile: curveKey), try CurveKeyPair.readAllowlist(allow))
        }
        let sink = try FeatureStoreShardSink(
            directory: runDir + "/shards", provenance: Self.provenance(of: embedder), list: try ListSummary.scan(path: list))
        return CoordinatorService(settings: settings, options: options, sink: sink, logger: logger)
    }

    /// What the store records about how its features were made. The test embedder is not a
    /// model, so its stores are marked as random weights: their numbers mean nothing.
    static func provenance(of embedder: FaceEmbedder) -> StoreProvenance {
        let info = embedder.model
        let network = (embedder as? IResNetEmbedder)?.network
        return StoreProvenance(
            modelFingerprint: network?.fingerprint ?? info.fingerprint, architecture: info.architecture,
            embeddingDim: info.dim, preprocessingPreset: info.preprocessing,
            flip: info.preprocessing.hasSuffix("+flip"), imageListSHA256: "", toolVersion: magfleetVersion,
            randomWeights: network?.isRandom ?? true, labelNames: [])
    }

    static func report(_ outcome: CoordinatorService.Outcome) throws {
        switch outcome {
        case let .finished(summary, seconds, images):
            let rate = seconds > 0 ? Double(images) / seconds : 0
            print("merged \(summary.rows) rows (\(summary.embedded) embedded, \(summary.failed) failed) into \(summary.destination)")
            print(String(format: "this run: %llu images in %.2f s (%.0f images/s)", images, seconds, rate))
        case .stopped:
            Console.error("stopped; run the same command again to resume")
            throw ExitCode(130)
        }
    }
}

import Logging
