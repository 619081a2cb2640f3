import ArgumentParser
import Cluster
import TestEmbedding
import Foundation
import IResNet
import Imaging
import Tensor
import Logging
import Base
import ClusterCore

extension Preprocessing.Preset: ExpressibleByArgument {}

/// A run-time failure of a command (not a usage error): printed as `magfleet: message`, exit 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    var code: Int32 = 1
    init(_ description: String, code: Int32 = 1) {
        self.description = description
        self.code = code
    }
}

/// How many failed rows a run may have and still exit 0: a count (`50`) or a share of the
/// rows (`1%`). A run in which every row failed always exits non-zero.
struct FailureLimit: ExpressibleByArgument, CustomStringConvertible {
    enum Kind { case count(Int), percent(Double) }
    var kind: Kind
    init?(argument: String) {
        if argument.hasSuffix("%"), let p = Double(argument.dropLast()), p >= 0, p <= 100 { kind = .percent(p) }
        else if let n = Int(argument), n >= 0 { kind = .count(n) }
        else { return nil }
    }
    var description: String {
        switch kind {
        case let .count(n): "\(n)"
        case let .percent(p): "\(p.formatted())%"
        }
    }
    var defaultValueDescription: String { description }

    /// Whether `failed` of `rows` stays within the limit.
    func allows(failed: Int, of rows: Int) -> Bool {
        if rows > 0, failed == rows { return false }
        switch kind {
        case let .count(n): return failed <= n
        case let .percent(p): return Double(failed) <= Double(rows) * p / 100
        }
    }
}

/// Options of the commands that run a coordinator (`coordinator`, `extract`).
struct RunOptions: ParsableArguments {
    @Option(help: "Images per shard.") var shardSize: Int = 256
    @Flag(name: .customLong("labels-from-dirs"), help: "Label rows without a label field by their parent folder (docs/lists.md, \"Labels and distractors\").")
    var labelsFromDirsFlag = false
    @Flag(name: .customLong("label-from-folder"), help: .hidden)  // another spelling of --labels-from-dirs, still accepted
    var labelFromFolder = false
    var labelsFromDirs: Bool { labelsFromDirsFlag || labelFromFolder }
    @Flag(help: "Delete the run directory's journal and shards first and start over (also when --out is already complete).") var restart = false
    @Flag(help: "Keep the run directory (journal, shard files) once the store is merged and reads back whole; by default it is removed unless rows failed (--retry-failed needs it).")
    var keepRunDir = false
    @Flag(help: "Compute the failed rows of a finished or resumed run again (automatic when --root changed).")
    var retryFailed = false
    @Option(help: "Failed rows a run may have and exit 0: a count or a percentage. A run whose every row failed exits 3 always.")
    var maxFailures = FailureLimit(argument: "1%")!
    @Option(help: ArgumentHelp("A lease is lost when nothing renews it for this long, milliseconds.",
                               discussion: "A live worker renews its leases with every heartbeat, however long a shard takes."))
    var leaseMs: Int = 600_000
    @Option(help: ArgumentHelp("A worker whose compute thread stays this long in one step (one image read, one batch) is stalled, milliseconds; 0: never.",
                               discussion: "A stalled worker's leases go to other workers, and it gets no work until it moves again."))
    var stallMs: Int = 600_000

    func validate() throws {
        guard shardSize >= 1, leaseMs >= 1 else { throw ValidationError("--shard-size and --lease-ms must be positive") }
        guard stallMs >= 0 else { throw ValidationError("--stall-ms must be 0 (never) or positive") }
    }
}

/// Which embedder a cluster command uses, and the model it records.
struct EmbedderOptions: ParsableArguments {
    @Option(help: "Model checkpoint (.pth) for the iresnet embedder.")
    var model: String?

    @Option(help: ArgumentHelp(
        "iresnet (the real network) or test (NOT A MODEL: a deterministic hash of the image bytes, for protocol tests and benchmarks; recorded as such).",
        valueName: "kind"))
    var embedder: String = "iresnet"

    @Option(help: "Compute threads of the embedder (0: its default). The test embedder uses one.")
    var threads: Int = 0

    @Flag(help: "Compute every convolution with im2col + GEMM instead of Winograd (slower; half the weight memory).")
    var exact = false

    @Option(help: ArgumentHelp(
        "The Winograd GEMMs' number format: f32, or bf16 (opt-in, CPUs with AVX512_BF16: faster on some, less exact; docs/engine.md, \"bf16\"). Recorded in the model fingerprint; coordinator and workers must agree.",
        valueName: "format"))
    var precision: Precision = .f32

    @Option(help: ArgumentHelp(
        "Input preprocessing: magface (BGR, x/255: MagFace's gen_feat.py) or arcface (RGB, (x-127.5)/127.5: insightface). Recorded in the store; coordinator and workers must agree.",
        valueName: "preset"))
    var preset: Preprocessing.Preset = .magface

    @Flag(help: "Flip fusion: each embedding is the sum of the image's and its mirror image's (twice the compute). Recorded in the store.")
    var flip = false

    @Option(help: ArgumentHelp("Embedding length of the test embedder.", visibility: .hidden))
    var testDim: Int = 8

    @Option(help: ArgumentHelp("A tag folded into the test embedder's fingerprint (to test model mismatch).", visibility: .hidden))
    var testVariant: String = ""

    @Option(help: ArgumentHelp("Test embedder only: sleep this long per image, to make shards take time.", visibility: .hidden))
    var testDelayMs: Int = 0

    func validate() throws {
        guard ["iresnet", "test"].contains(embedder) else {
            throw ValidationError("--embedder must be iresnet or test, not \(embedder)")
        }
        if embedder == "iresnet" && model == nil { throw ValidationError("--model is required with --embedder iresnet") }
        if threads < 0 { throw ValidationError("--threads must be 0 or more") }
        if testDim < 1 || testDim > 4096 { throw ValidationError("--test-dim must be in 1...4096") }
        if precision != .f32 && (embedder != "iresnet" || exact) {
            throw ValidationError("--precision \(precision.rawValue) needs --embedder iresnet without --exact")
        }
    }

    /// The arguments that make a worker process use the same embedder.
    var workerArguments: [String] {
        var args = ["--embedder", embedder, "--test-dim", "\(testDim)", "--threads", "\(threads)", "--preset", preset.rawValue]
        if let model { args += ["--model", model] }
        if exact { args.append("--exact") }
        if precision != .f32 { args += ["--precision", precision.rawValue] }
        if flip { args.append("--flip") }
        if !testVariant.isEmpty { args += ["--test-variant", testVariant] }
        if testDelayMs > 0 { args += ["--test-delay-ms", "\(testDelayMs)"] }
        return args
    }

    /// Builds the embedder and its image loader, whose reads wait at most
    /// `readTimeoutMilliseconds` (`--read-timeout-ms`). This is the seam where the real IResNet
    /// engine and Imaging preprocessing plug in.
    func make(readTimeoutMilliseconds: Int = BoundedFileReader.defaultTimeoutMilliseconds) throws -> (FaceEmbedder, ImageLoader) {
        switch embedder {
        case "test":
            return (TestEmbedder(dim: testDim, variant: testVariant, preset: preset.rawValue, flip: flip),
                    TestImageLoader(delayMilliseconds: testDelayMs, readTimeoutMilliseconds: readTimeoutMilliseconds))
        default:
            // The ZeroMQ/compute split already gives one compute thread; the engine gets --threads.
            if threads > 0 { BLAS.setThreadCount(threads) }
            let preprocessing = Preprocessing(preset: preset, flip: flip)
            let network: IResNet
            do {
                network = try IResNet(checkpoint: URL(fileURLWithPath: model ?? ""), mode: exact ? .exact : .fast, precision: precision)
            } catch {
                throw CommandFailure("cannot load --model \(model ?? ""): \(error)")
            }
            return (IResNetEmbedder(network: network, preprocessing: preprocessing),
                    ImagingLoader(preprocessing: preprocessing, readTimeoutMilliseconds: readTimeoutMilliseconds))
        }
    }
}

extension Precision: ExpressibleByArgument {}

/// The deadline of every image read, for the commands that read images (`worker`, `extract`,
/// `coordinator`, `images check`): docs/imaging.md, "Stalled storage".
struct ReadOptions: ParsableArguments {
    @Option(help: """
        Fail an image whose open and read take longer than this, milliseconds: a read stalled on \
        storage (a hung network mount) costs its image, not the process (0: no deadline).
        """)
    var readTimeoutMs: Int = BoundedFileReader.defaultTimeoutMilliseconds

    func validate() throws {
        guard readTimeoutMs >= 0 else { throw ValidationError("--read-timeout-ms must be 0 or more") }
    }
}

/// Timers shared by the coordinator and workers (short values make tests fast).
struct TimingOptions: ParsableArguments {
    @Option(help: "Heartbeat interval, milliseconds.")
    var heartbeatMs: Int = 1_000

    @Option(help: "A peer silent this long is gone, milliseconds.")
    var heartbeatTimeoutMs: Int = 5_000

    func validate() throws {
        guard heartbeatMs >= 10, heartbeatTimeoutMs > heartbeatMs else {
            throw ValidationError("need --heartbeat-ms >= 10 and --heartbeat-timeout-ms > --heartbeat-ms")
        }
    }
}

/// What a run shows while it runs and when it ends (`coordinator`, `extract`).
struct RunOutputOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Show progress: a bar on a terminal, else a `progress` log line every --progress-every seconds.")
    var progress = true

    @Option(help: ArgumentHelp("Seconds between progress log lines when standard error is not a terminal.", valueName: "seconds"))
    var progressEvery: Double = 30

    @Flag(help: "Print the final summary as JSON on standard output (counts, failures by category, rate, wall time, store path).")
    var json = false

    @Option(help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics while the run lasts (port 0: any free port; docs/operations.md, \"Metrics\").",
                               valueName: "host:port"))
    var metricsBind: String?

    /// Starts the metrics endpoint when asked for; logs where it is.
    func startMetrics(logger: Logger) throws -> MetricsEndpoint? {
        guard let metricsBind else { return nil }
        let endpoint = try MetricsEndpoint(bind: metricsBind, logger: logger)
        logger.info("serving metrics", metadata: ["url": "http://\(endpoint.address)/metrics"])
        return endpoint
    }

    func validate() throws {
        guard progressEvery > 0 else { throw ValidationError("--progress-every must be positive") }
    }

    /// The bar when standard error is a terminal, log lines otherwise.
    var mode: ProgressMode {
        guard progress else { return .none }
        return isatty(STDERR_FILENO) != 0 ? .terminal : .log(every: Millis(progressEvery * 1000))
    }
}

struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func makeLogger(_ label: String) -> Logger {
        LoggingBootstrap.once()
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        return logger
    }
}

enum LoggingBootstrap {
    nonisolated(unsafe) static var done = false  // only the main thread bootstraps, before any other thread runs
    static func once() {
        if done { return }
        done = true
        // Through the status line, so that a log line never lands on a progress bar.
        LoggingSystem.bootstrap { StreamLogHandler(label: $0, stream: StatusLineStream()) }
    }
}

/// Whether `endpoint` only listens on this host.
func isLoopback(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
    for prefix in ["tcp://127.", "tcp://localhost:", "tcp://[::1]:", "tcp://lo:"] where endpoint.hasPrefix(prefix) { return true }
    return false
}

var hostName: String { ProcessInfo.processInfo.hostName }
