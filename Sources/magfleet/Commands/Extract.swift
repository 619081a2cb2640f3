import ArgumentParser
import Cluster
import Foundation
import Logging

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed an image list on this machine: a coordinator plus N local worker processes.",
        discussion: """
            Same guarantees as a cluster run: journal in --run-dir, resume by running again. \
            The list format, the label rule and what makes a run resumable: docs/lists.md. \
            Exit status: 0 done, 1 error, 3 done but more failed rows than --max-failures, 130 stopped.

            Examples:
              magfleet extract --list images.list --root /data/faces \\
                  --model magface_epoch_00025.pth --out features.h5 \\
                  --workers 4 --threads 2
              magfleet extract --list demo/images.list --root demo/images \\
                  --embedder test --out smoke.h5
            """)

    @Option(help: "Image list: `path [label [x1 y1 ... x5 y5]]` per line (docs/lists.md).") var list: String
    @Option(help: "The store to write.") var out: String
    @Option(help: "Local worker processes.") var workers: Int = 2
    @Option(help: "Run directory (default: OUT.run).") var runDir: String?
    @Option(help: "Where list paths are found (ROOT/path), for the workers and the check before the run.") var root: String?
    @Option(help: "Shards each worker may hold at once.") var prefetch: Int = 2
    @Option(help: "Images per forward pass in each worker (progress moves once per batch), or auto (`worker --batch-size`; default: the worker's per-CPU rule).")
    var batchSize: String?
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var output: RunOutputOptions
    @OptionGroup var model: EmbedderOptions
    @OptionGroup var reads: ReadOptions
    @OptionGroup var timing: TimingOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard prefetch >= 1, batchSize == nil || batchSize == "auto" || (Int(batchSize!) ?? 0) >= 1 else { throw ValidationError("--prefetch and --batch-size must be positive") }
    }

    func run() throws {
        let logger = log.makeLogger("magfleet.extract")
        try OutputFile.prepare(out, "store (--out)", createDirectories: true)
        let embedder = try model.makeModelCard()  // fingerprint only: the network is not built
        var setup = CoordinatorSetup(list: list, out: out, runDir: runDir ?? out + ".run", bind: "tcp://127.0.0.1:*",
                                     run: runOptions, timing: timing)
        setup.root = root
        setup.readTimeoutMilliseconds = reads.readTimeoutMs
        setup.localWorkers = true
        setup.progress = output.mode
        let service = try setup.makeService(embedder: embedder, logger: logger)
        let metrics = try output.startMetrics(logger: logger)
        defer { metrics?.stop() }
        // Under a progress bar the workers' output is relayed above it, line by line.
        let supervisor = LocalWorkers(count: workers, logger: logger, relayOutput: output.mode == .terminal)
        defer { supervisor.stop() }
        let outcome = try service.run(stop: StopFlag(signals: [SIGINT, SIGTERM])) { endpoint in
            var args = ["worker", "--connect", endpoint, "--prefetch", "\(prefetch)", "--log-level", log.logLevel,
                        "--parent-pid", "\(getpid())", "--read-timeout-ms", "\(reads.readTimeoutMs)",
                        "--heartbeat-ms", "\(timing.heartbeatMs)", "--heartbeat-timeout-ms", "\(timing.heartbeatTimeoutMs)"]
            if let root { args += ["--root", root] }
            if let batchSize { args += ["--batch-size", batchSize] }
            // Several workers on one host each get their share of the cores (not all of them
            // each: the engine's threads spin between passes and assume a core each).
            var workerModel = model
            if model.threads == 0 { workerModel.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / workers) }
            supervisor.start(arguments: args + workerModel.workerArguments)
        }
        supervisor.finish(within: 2)
        try Coordinator.report(outcome, limit: runOptions.maxFailures, json: output.json)
    }
}

/// Runs N local worker processes and replaces one that dies abnormally (a poison image kills
/// the worker that touches it; the coordinator isolates the image after a few such losses).
/// A worker that exits 0 (run finished) or 2 (refused: a configuration error) is not replaced.
final class LocalWorkers: @unchecked Sendable {  // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private let count: Int
    private let logger: Logging.Logger
    private var arguments: [String] = []
    private var processes: [Process] = []
    private var stopping = false
    private var restarts = 0
    private let relayOutput: Bool

    /// - Parameter relayOutput: read each worker's output and write it above the status line
    ///   (`StatusLine`), instead of letting it write to the terminal on its own.
    init(count: Int, logger: Logging.Logger, relayOutput: Bool = false) {
        self.count = count
        self.logger = logger
        self.relayOutput = relayOutput
    }

    func start(arguments: [String]) {
        lock.withLock { self.arguments = arguments }
        for _ in 0..<count { spawn() }
    }

    private func spawn() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = lock.withLock { arguments }
        p.terminationHandler = { [weak self] process in self?.exited(process) }
        if relayOutput {
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            let lines = LineRelay()
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                if data.isEmpty { handle.readabilityHandler = nil }
                lines.feed(data)
            }
        }
        do {
            try p.run()
            lock.withLock { processes.append(p) }
        } catch {
            logger.error("cannot start a local worker: \(error)")
        }
    }

    private func exited(_ process: Process) {
        let status = process.terminationStatus
        let replace: Bool = lock.withLock {
            processes.removeAll { $0 === process }
            guard !stopping, status != 0, status != 2, restarts < 10 * count else { return false }
            restarts += 1
            return true
        }
        if replace {
            logger.warning("a local worker died; starting another", metadata: ["status": "\(status)"])
            spawn()
        }
    }

    /// Waits up to `seconds` for the workers to leave on their own (they get Finished).
    func finish(within seconds: Double) {
        lock.withLock { stopping = true }
        let deadline = Date().addingTimeInterval(seconds)
        while lock.withLock({ processes.contains(where: \.isRunning) }), Date() < deadline { usleep(20_000) }
    }

    /// Terminates the workers still running, then kills those still there after 5 s. Waits
    /// 5 s more at most: a worker with a read stuck in the kernel (stalled storage) cannot exit
    /// until the storage answers, and this command's work is done.
    func stop() {
        let running: [Process] = lock.withLock {
            stopping = true
            return processes
        }
        for p in running where p.isRunning { p.terminate() }
        if Self.wait(for: running, seconds: 5) { return }
        for p in running where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        if Self.wait(for: running, seconds: 5) { return }
        logger.warning("local workers did not exit; a read stuck in the kernel? (stalled storage)",
                       metadata: ["pids": "\(running.filter(\.isRunning).map(\.processIdentifier))"])
    }

    /// Whether every process of `processes` exited within `seconds`.
    private static func wait(for processes: [Process], seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while processes.contains(where: \.isRunning) {
            guard Date() < deadline else { return false }
            usleep(20_000)
        }
        return true
    }
}

/// Splits a child's output into whole lines and writes each above the status line.
final class LineRelay: @unchecked Sendable {  // @unchecked: `pending` is only touched by the pipe's handler, one call at a time.
    private var pending = Data()

    func feed(_ data: Data) {
        pending.append(data)
        guard let cut = pending.lastIndex(of: UInt8(ascii: "\n")) else {
            // End of output: a last line without its newline still goes out, whole.
            if data.isEmpty, !pending.isEmpty { flush(pending + Data("\n".utf8)); pending.removeAll() }
            return
        }
        let whole = pending[...cut]
        pending = Data(pending[(cut + 1)...])
        flush(whole)
    }

    private func flush(_ lines: Data) {
        StatusLine.standardError.printAbove(String(decoding: lines, as: UTF8.self))
    }
}

