import ArgumentParser
import Cluster
import FeatureStore
import Foundation
import Imaging
import Logging
import ZeroMQ
import ClusterCore

struct Coordinator: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Shard an image list over ZeroMQ to workers; journal, resume, merge into a store.",
        discussion: """
            The list format, the label rule and what makes a run resumable: docs/lists.md. \
            Protocol: Protocols/README.md. Operations: docs/cluster.md. Exit status: 0 done, \
            1 error, 3 done but more failed rows than --max-failures, 130 stopped (resumable).

            Examples:
              magfleet coordinator --list images.list --model magface_epoch_00025.pth \\
                  --out features.h5 --run-dir features.run --bind tcp://0.0.0.0:5555 \\
                  --curve-key keys/coordinator.key --allow keys/workers
            """)

    @Option(help: "Image list: `path [label [x1 y1 ... x5 y5]]` per line (docs/lists.md).") var list: String
    @Option(help: "The store to write at the end.") var out: String
    @Option(help: "ZeroMQ endpoint to bind.") var bind: String = "tcp://127.0.0.1:5555"
    @Option(help: "Run directory: lock, journal and shard files; the same one resumes a run.") var runDir: String
    @Flag(help: "Send image bytes to workers (hosts without shared storage).") var shipImages = false
    @Option(help: "Where list paths are found on this host (ROOT/path): to ship images and to check a sample before the run.")
    var root: String?
    @Option(help: "This coordinator's CURVE key file (from `magfleet keygen`); enables CURVE.") var curveKey: String?
    @Option(help: "Allowlist of worker public keys: a file (one per line) or a directory of .pub files.") var allow: String?
    @Flag(help: "Allow binding a non-loopback address without CURVE.") var insecure = false
    @Option(help: "Lost leases before a shard is split into single images / an image fails.") var maxLosses = CoordinatorSetup.defaults.maxLosses
    @Option(help: "Largest prefetch a worker may claim.") var maxPrefetch = CoordinatorSetup.defaults.maxPrefetch
    @Option(help: "Largest inbound message, bytes; bigger ones are dropped.") var maxMessageBytes = CoordinatorSetup.defaults.maxMessageBytes
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var output: RunOutputOptions
    @OptionGroup var model: EmbedderOptions
    @OptionGroup var reads: ReadOptions
    @OptionGroup var timing: TimingOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        if curveKey == nil, !isLoopback(bind), !insecure {
            throw ValidationError("binding \(bind) without CURVE exposes the coordinator; pass --curve-key and --allow, or --insecure")
        }
        if (curveKey == nil) != (allow == nil) { throw ValidationError("--curve-key and --allow go together") }
        guard maxLosses >= 1, maxPrefetch >= 1 else {
            throw ValidationError("--max-losses and --max-prefetch must be positive")
        }
    }

    func run() throws {
        let logger = log.makeLogger("magfleet.coordinator")
        try OutputFile.prepare(out, "store (--out)", createDirectories: true)
        let embedder = try model.makeModelCard()  // fingerprint only: the network is not built
        var setup = CoordinatorSetup(list: list, out: out, runDir: runDir, bind: bind, run: runOptions, timing: timing)
        setup.root = root
        setup.readTimeoutMilliseconds = reads.readTimeoutMs
        setup.shipImages = shipImages
        if let curveKey, let allow { setup.curve = (curveKey, allow) }
        setup.maxLosses = maxLosses
        setup.maxPrefetch = maxPrefetch
        setup.maxMessageBytes = maxMessageBytes
        setup.progress = output.mode
        let service = try setup.makeService(embedder: embedder, logger: logger)
        let metrics = try output.startMetrics(logger: logger)
        defer { metrics?.stop() }
        let outcome = try service.run(stop: StopFlag(signals: [SIGINT, SIGTERM]), onBound: { endpoint in
            logger.info("bound", metadata: ["endpoint": "\(endpoint)"])
        })
        try Coordinator.report(outcome, limit: runOptions.maxFailures, json: output.json)
    }

    /// What the store records about how its features were made. The test embedder is not a
    /// model, so its stores are marked as random weights: their numbers mean nothing.
    static func provenance(of embedder: FaceEmbedder) -> StoreProvenance {
        let info = embedder.model
        let iresnet = embedder as? IResNetIdentified, identity = iresnet?.identity
        return StoreProvenance(
            modelFingerprint: iresnet.map { IResNetEmbedder.weightsFingerprint($0.identity.fingerprint, precision: $0.precision) }
                ?? info.fingerprint,
            architecture: info.architecture,
            embeddingDim: info.dim, preprocessingPreset: info.preprocessing,
            flip: info.flip, imageListSHA256: "", toolVersion: magfleetVersion,
            randomWeights: identity?.isRandom ?? true, labelNames: [])
    }

    /// The final summary of a run (`--json`), the same facts as the text one.
    struct RunSummary: Codable {
        var status: String  // "finished" or "stopped"
        var exitStatus: Int32
        var store: String?
        var rows, embedded, failed: Int?
        var failuresByCategory: [String: UInt64]?
        var imagesThisRun: UInt64?
        var seconds: Double?
        var imagesPerSecond: Double?
        var leases: LeaseCountersDocument?
        var message: String?
    }

    /// Prints the run's summary (text, or JSON with `json`); exits 3 when more rows failed than
    /// `limit` allows, 130 when stopped.
    static func report(_ outcome: CoordinatorService.Outcome, limit: FailureLimit, json: Bool = false) throws {
        switch outcome {
        case let .finished(report):
            let summary = report.merge
            let rate = report.seconds > 0 ? Double(report.imagesThisRun) / report.seconds : 0
            let l = report.leases
            let lost = l.lostVanished + l.lostStalled + l.lostExpired
            var failure: CommandFailure?
            if !limit.allows(failed: summary.failed, of: summary.rows) {
                let why = summary.failed == summary.rows ? "every row failed" : "\(summary.failed) failed rows exceed --max-failures \(limit)"
                failure = CommandFailure("\(why); the store is written, with each failure's reason (run again with --retry-failed once the cause is fixed)", code: 3)
            }
            if json {
                try Console.printJSON(RunSummary(
                    status: "finished", exitStatus: failure?.code ?? 0, store: summary.destination, rows: summary.rows,
                    embedded: summary.embedded, failed: summary.failed, failuresByCategory: report.failuresByCategory,
                    imagesThisRun: report.imagesThisRun, seconds: report.seconds, imagesPerSecond: rate,
                    leases: LeaseCountersDocument(l),
                    message: failure?.description))
            } else {
                print("merged \(summary.rows) rows (\(summary.embedded) embedded, \(summary.failed) failed) into \(summary.destination)")
                if !report.failuresByCategory.isEmpty {
                    let kinds = report.failuresByCategory.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                    print("failed rows by category: " + kinds.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                          + " (magfleet info \(summary.destination) lists them)")
                }
                print(String(format: "this run: %llu images in %.2f s (%.0f images/s)", report.imagesThisRun, report.seconds, rate))
                print("leases: \(l.granted) granted, \(l.released) handed back, \(l.revoked) revoked, \(lost) lost"
                      + (lost > 0 ? " (\(l.lostVanished) vanished, \(l.lostStalled) stalled, \(l.lostExpired) expired)" : ""))
            }
            if let failure { throw failure }
        case .stopped:
            if json {
                try Console.printJSON(RunSummary(status: "stopped", exitStatus: 130, message: "stopped; run the same command again to resume"))
            }
            Console.error("stopped; run the same command again to resume")
            throw ExitCode(130)
        }
    }
}

import Logging

/// Everything a coordinator run is made of, whichever command starts it (`coordinator`, or
/// `extract` with its local workers): the one place that turns options into a service.
struct CoordinatorSetup {
    var list: String
    var out: String
    var runDir: String
    var bind: String
    var run: RunOptions
    var timing: TimingOptions
    var root: String?
    /// The deadline of the coordinator's own image reads (the sample before the run, shipping).
    var readTimeoutMilliseconds = BoundedFileReader.defaultTimeoutMilliseconds
    var shipImages = false
    /// The workers are local processes of this command: they see the files as it does.
    var localWorkers = false
    var curve: (key: String, allow: String)?
    var maxLosses = defaults.maxLosses
    var maxPrefetch = defaults.maxPrefetch
    var maxMessageBytes = defaults.maxMessageBytes
    var progress = ProgressMode.none

    static let defaults = (maxLosses: 3, maxPrefetch: 16, maxMessageBytes: 64 << 20)

    func makeService(embedder: FaceEmbedder, logger: Logging.Logger) throws -> CoordinatorService {
        var settings = CoordinatorMachine.Settings(model: embedder.model, runID: URL(fileURLWithPath: runDir).lastPathComponent)
        settings.leaseMilliseconds = Millis(run.leaseMs)
        settings.stallMilliseconds = Millis(run.stallMs)
        settings.insecure = curve == nil && !isLoopback(bind)
        settings.heartbeatInterval = Millis(timing.heartbeatMs)
        settings.heartbeatTimeout = Millis(timing.heartbeatTimeoutMs)
        settings.maxLosses = UInt32(maxLosses)
        settings.maxPrefetch = UInt32(maxPrefetch)
        settings.shipImages = shipImages
        var options = CoordinatorService.Options(bind: bind, listPath: list, runDirectory: runDir, output: out)
        options.shardSize = run.shardSize
        options.root = root
        options.readTimeoutMilliseconds = readTimeoutMilliseconds
        options.rootIsAuthoritative = localWorkers || shipImages || root != nil
        options.labelRule = LabelRule(fromFolders: run.labelsFromDirs)
        options.restart = run.restart
        options.keepRunDirectory = run.keepRunDir
        options.retryFailed = run.retryFailed
        options.maxMessageBytes = maxMessageBytes
        options.progress = progress
        if let curve {
            options.curve = (try CurveKeyPair.read(secretFile: curve.key), try CurveKeyPair.readAllowlist(curve.allow))
        }
        let provenance = Coordinator.provenance(of: embedder)
        let shards = runDir + "/shards"
        return CoordinatorService(settings: settings, options: options, logger: logger) { summary in
            var p = provenance
            p.imageListSHA256 = summary.sha256
            p.labelNames = summary.labels.names
            return try FeatureStoreShardSink(directory: shards, provenance: p, totalRows: summary.count)
        }
    }
}
