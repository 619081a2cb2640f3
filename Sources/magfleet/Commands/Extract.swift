import ArgumentParser
import Cluster
import Foundation

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed an image list on this machine: a coordinator plus N local worker processes.",
        discussion: "Same guarantees as a cluster run: journal in --run-dir, resume by running again.")

    @Option(help: "Image list: one path per line.") var list: String
    @Option(help: "The store to write.") var out: String
    @Option(help: "Local worker processes.") var workers: Int = 2
    @Option(help: "Run directory (default: OUT.run).") var runDir: String?
    @Option(help: "Images per shard.") var shardSize: Int = 256
    @Option(help: "Prepended to list paths by the workers.") var root: String?
    @Option(help: "Shards each worker may hold at once.") var prefetch: Int = 2
    @Option(help: "Lease length, milliseconds.") var leaseMs: Int = 600_000
    @OptionGroup var model: EmbedderOptions
    @OptionGroup var timing: TimingOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    func run() throws {
        let logger = log.makeLogger("magfleet.extract")
        let (embedder, _) = try model.make()
        var coordinator = try Coordinator.parse([
            "--list", list, "--out", out, "--run-dir", runDir ?? out + ".run", "--shard-size", "\(shardSize)",
            "--lease-ms", "\(leaseMs)", "--heartbeat-ms", "\(timing.heartbeatMs)",
            "--heartbeat-timeout-ms", "\(timing.heartbeatTimeoutMs)", "--log-level", log.logLevel,
        ] + model.workerArguments)
        coordinator.progress = true
        let service = try coordinator.makeService(model: embedder.model, logger: logger, bindOverride: "tcp://127.0.0.1:*")
        let processes = Locked<[Process]>([])
        defer {
            for p in processes.get() where p.isRunning {
                p.terminate()
                p.waitUntilExit()
            }
        }
        let outcome = try service.run(stop: StopFlag(signals: [SIGINT, SIGTERM])) { endpoint in
            var spawned: [Process] = []
            for _ in 0..<workers {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
                var args = ["worker", "--connect", endpoint, "--prefetch", "\(prefetch)", "--log-level", log.logLevel,
                            "--heartbeat-ms", "\(timing.heartbeatMs)", "--heartbeat-timeout-ms", "\(timing.heartbeatTimeoutMs)"]
                if let root { args += ["--root", root] }
                p.arguments = args + model.workerArguments
                do { try p.run() } catch { logger.error("cannot start a worker: \(error)") }
                spawned.append(p)
            }
            processes.set(spawned)
        }
        // Workers exit on Finished; give them a moment before the deferred terminate.
        let deadline = Date().addingTimeInterval(5)
        while processes.get().contains(where: \.isRunning), Date() < deadline { usleep(20_000) }
        try Coordinator.report(outcome)
    }
}

/// A value shared with a closure; guarded by a lock.
final class Locked<Value>: @unchecked Sendable {  // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
