import ArgumentParser
import Base
import Cluster
import Foundation
import ZeroMQ
import ClusterCore

struct Worker: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute embeddings for a coordinator; stateless, reconnects with backoff.",
        discussion: """
            SIGTERM says Drain (no new work), finishes the current shard (or hands it back after \
            --drain-timeout-ms) and exits. The coordinator sends typed items (path, landmarks): \
            the worker never reads the list. Its model, --preset and --flip must equal the \
            coordinator's (Protocols/README.md).

            Examples:
              magfleet worker --connect tcp://coord-host:5555 \\
                  --model magface_epoch_00025.pth --root /mnt/faces --threads 4 \\
                  --curve-key keys/workers/node17.key --server-key keys/coordinator.pub
            """)

    @Option(help: "The coordinator's endpoint, e.g. tcp://host:5555.") var connect: String
    @Option(help: "Where list paths are found on this host (ROOT/path: its mount of the shared storage; docs/lists.md).") var root: String?
    @Option(help: "Shards this worker may hold at once (its credit).") var prefetch: Int = 2
    @Option(help: "Images per forward pass, or auto: time 1, 2, 4, 8 and 16 on the first batches and keep the fastest (embeddings then differ from worker to worker in the last bits). Default: the iresnet embedder's per-CPU rule (1 on AMD, 8 elsewhere), 32 for the test embedder.")
    var batchSize: String?
    @Option(help: "This worker's CURVE key file (from `magfleet keygen`).") var curveKey: String?
    @Option(help: "The coordinator's public key (a .pub file or the Z85 key).") var serverKey: String?
    @Option(help: "After SIGTERM, finish the current shard within this many milliseconds or hand it back.") var drainTimeoutMs: Int = 30_000
    @Option(help: "Longest reconnect backoff, milliseconds.") var backoffMaxMs: Int = 10_000
    @Option(help: ArgumentHelp("Drain and exit when this parent process is gone (set by `extract`).", visibility: .hidden))
    var parentPid: Int32?
    @OptionGroup var model: EmbedderOptions
    @OptionGroup var reads: ReadOptions
    @OptionGroup var timing: TimingOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        if (curveKey == nil) != (serverKey == nil) { throw ValidationError("--curve-key and --server-key go together") }
        guard prefetch >= 1, batchSize == nil || batchSize == "auto" || (Int(batchSize!) ?? 0) >= 1 else { throw ValidationError("--prefetch and --batch-size must be positive") }
    }

    func run() throws {
        let logger = log.makeLogger("magfleet.worker")
        let stop = StopFlag(signals: [SIGTERM, SIGINT])
        if let parentPid { watchParent(parentPid, stop: stop) }
        let (embedder, loader) = try model.make(readTimeoutMilliseconds: reads.readTimeoutMs)
        let id = "\(hostName)-\(getpid())-\(UUID().uuidString.prefix(8))"
        var settings = WorkerMachine.Settings(workerID: id, model: embedder.model)
        settings.prefetch = UInt32(prefetch)
        settings.hostname = hostName
        settings.pid = UInt32(getpid())
        settings.software = "magfleet \(magfleetVersion)"
        settings.heartbeatInterval = Millis(timing.heartbeatMs)
        settings.heartbeatTimeout = Millis(timing.heartbeatTimeoutMs)
        settings.drainTimeout = Millis(drainTimeoutMs)
        settings.backoffMax = Millis(backoffMaxMs)
        var options = WorkerService.Options(endpoint: connect)
        if let curveKey, let serverKey {
            options.curve = (try CurveKeyPair.read(secretFile: curveKey), try CurveKeyPair.readPublicKey(serverKey))
        }
        logger.info("worker starting", metadata: ["id": "\(id)", "model": "\(embedder.model)"])
        let sizing: BatchSizing = switch batchSize {
        case "auto": .engineDefault
        case let n?: .fixed(Int(n)!)
        case nil: .fixed(embedder is IResNetEmbedder ? BatchSizing.engineRule(cpu: HostCPU.modelName) : 32)
        }
        let pipeline = WorkerPipeline(embedder: embedder, loader: loader, root: root, sizing: sizing)
        pipeline.onCalibrated = { size, measured in
            let rates = measured.map { "\($0.size): \(String(format: "%.2f", $0.imagesPerSecond))" }.joined(separator: ", ")
            logger.info("batch size chosen", metadata: ["batch_size": "\(size)", "images_per_second": "\(rates)"])
        }
        let code = try WorkerService(settings: settings, options: options, pipeline: pipeline, logger: logger).run(stop: stop)
        if code != 0 { throw ExitCode(code) }
    }

    /// Local workers must not outlive a crashed `extract`: treat the parent's exit as SIGTERM.
    func watchParent(_ pid: Int32, stop: StopFlag) {
        let thread = Thread {
            while getppid() == pid { usleep(200_000) }
            stop.set()
        }
        thread.name = "magfleet-parent-watch"
        thread.start()
    }
}
