import Foundation
import Logging
import Wire
import ZeroMQ

/// Drives a CoordinatorMachine: one thread streams the list into it, polls the ROUTER socket,
/// hands events and `now` to the machine, and carries out its actions (send, assign, commit
/// = shard file + journal). Memory holds the leased and read-ahead shards, not the list.
public final class CoordinatorService {
    public struct Options: Sendable {
        public var bind: String
        public var listPath: String
        public var runDirectory: String
        public var output: String
        public var shardSize = 256
        /// CURVE: the coordinator's keys and the allowlisted worker public keys. nil: plain TCP.
        public var curve: (keys: CurveKeyPair, allowed: Set<String>)?
        public var maxMessageBytes = WireCodec.defaultMaxBytes
        /// Where the coordinator reads images it ships (`--ship-images`), prepended to list paths.
        public var shipRoot: String?
        /// Draw a progress line on stderr.
        public var progress = false
        public init(bind: String, listPath: String, runDirectory: String, output: String) {
            self.bind = bind
            self.listPath = listPath
            self.runDirectory = runDirectory
            self.output = output
        }
    }

    public enum Outcome: Sendable {
        case finished(MergeSummary, seconds: Double, imagesThisRun: UInt64)
        case stopped
    }

    let settings: CoordinatorMachine.Settings
    let options: Options
    let sink: ShardSink
    let logger: Logger

    public init(settings: CoordinatorMachine.Settings, options: Options, sink: ShardSink, logger: Logger) {
        self.settings = settings
        self.options = options
        self.sink = sink
        self.logger = logger
    }

    /// Runs the coordinator until every shard is done (then merges) or `stop` is set (the
    /// journal keeps what is done; run again to resume). `onBound` gets the bound endpoint.
    public func run(stop: StopFlag, onBound: (String) -> Void = { _ in }) throws -> Outcome {
        let journal = try Journal(
            directory: options.runDirectory,
            header: Journal.Header(list: URL(fileURLWithPath: options.listPath).standardized.path, shardSize: options.shardSize, model: settings.model))
        var machine = CoordinatorMachine(settings: settings, logger: logger)
        machine.totalImages = try ImageListReader.count(path: options.listPath)
        for entry in journal.entries.values { machine.countResumed(embedded: entry.embedded, failed: entry.failed) }
        let resumedImages = machine.imagesDone + machine.imagesFailed
        if !journal.entries.isEmpty {
            logger.info("resuming", metadata: ["shardsDone": "\(journal.entries.count)", "imagesDone": "\(resumedImages)"])
        }
        let source = ShardSource(reader: try ImageListReader(path: options.listPath), shardSize: options.shardSize, done: Set(journal.entries.keys))

        let context = try Context()
        var zap: ZAPHandler?
        if let curve = options.curve {
            let log = logger
            zap = try ZAPHandler(context: context, allowedPublicKeys: curve.allowed) { key, address, admitted in
                if admitted { log.debug("ZAP admitted", metadata: ["key": "\(key)", "address": "\(address)"]) }
                else { log.warning("ZAP refused a client key not in the allowlist", metadata: ["key": "\(key)", "address": "\(address)"]) }
            }
        }
        defer { zap?.stop() }
        let router = try Socket(context, .router)
        try router.setRouterHandover(true)
        try router.setMaxMessageSize(Int64(options.maxMessageBytes))
        try router.setSendHighWaterMark(10_000)
        try router.setReceiveHighWaterMark(10_000)
        if let curve = options.curve { try router.makeCurveServer(secret: curve.keys, zapDomain: "magfleet") }
        try router.bind(options.bind)
        onBound(router.lastEndpoint)
        logger.info("coordinator serving", metadata: [
            "endpoint": "\(router.lastEndpoint)", "curve": "\(options.curve != nil)", "images": "\(machine.totalImages)",
            "model": "\(settings.model)",
        ])

        let started = MonotonicClock.now()
        var progress = ProgressLine(enabled: options.progress, started: started, resumed: resumedImages)
        let poller = Poller()

        // Group commit: shards finished in one loop iteration share their fsyncs. A shard is
        // journaled only after its file is durable; a crash before that just redoes it.
        var commits: [ShardResult] = []
        func flushCommits() throws {
            guard !commits.isEmpty else { return }
            try sink.write(batch: commits)
            try journal.record(commits.map { Journal.Entry(key: $0.key, embedded: $0.rows.count - $0.failedCount, failed: $0.failedCount) })
            commits.removeAll(keepingCapacity: true)
        }

        func perform(_ actions: [CoordinatorMachine.Action]) throws -> Bool {
            var finished = false
            for action in actions {
                switch action {
                case let .send(peer, envelope):
                    try? router.send([peer, WireCodec.encode(envelope)])
                case let .assign(peer, shard, leaseMilliseconds):
                    try? router.send([peer, WireCodec.encode(WireCodec.envelope(.assign(assign(shard, leaseMilliseconds))))])
                case let .commit(result):
                    commits.append(result)
                case .finished:
                    finished = true
                }
            }
            return finished
        }

        var finished = false
        while !finished {
            while machine.wantsShards {
                let shards = try source.next()
                if shards.isEmpty { machine.markListExhausted(); break }
                for shard in shards { machine.enqueue(shard) }
            }
            if stop.isSet {
                try flushCommits()
                logger.info("stopping on signal; the run directory keeps what is done (run again to resume)")
                progress.clear()
                return .stopped
            }
            let ready = try poller.readable([router], timeoutMilliseconds: 20)
            if ready[0] {
                var budget = 1024
                while budget > 0, let frames = try router.receive() {
                    budget -= 1
                    guard frames.count == 2, !frames[0].isEmpty else {
                        logger.warning("dropped a message of \(frames.count) frames (expected routing id + 1 frame)")
                        continue
                    }
                    let envelope: Envelope
                    do { envelope = try WireCodec.decode(frames[1], maxBytes: options.maxMessageBytes) } catch {
                        logger.warning("dropped a message", metadata: ["reason": "\(error)", "bytes": "\(frames[1].count)"])
                        continue
                    }
                    if try perform(machine.receive(envelope, from: frames[0], now: MonotonicClock.now())) { finished = true }
                }
            }
            let now = MonotonicClock.now()
            if try perform(machine.tick(now: now)) { finished = true }
            try flushCommits()
            machine.throughput = progress.update(now: now, machine: machine)
        }
        progress.clear()
        try router.setLinger(1_000)  // let Finished reach the workers
        let keys = journal.entries.keys.sorted()
        let summary = try sink.merge(keys, model: settings.model, into: options.output)
        let seconds = Double(MonotonicClock.now() - started) / 1000
        return .finished(summary, seconds: seconds, imagesThisRun: machine.imagesDone + machine.imagesFailed - resumedImages)
    }

    func assign(_ shard: Shard, _ leaseMilliseconds: Millis) -> Assign {
        Assign.with {
            $0.shardFirst = shard.key.first
            $0.shardCount = shard.key.count
            $0.attempt = shard.attempts
            $0.leaseMs = UInt32(clamping: leaseMilliseconds)
            $0.items = shard.items.map { item in
                Item.with {
                    $0.index = item.index
                    $0.path = item.path
                    if settings.shipImages {
                        let path = Self.join(options.shipRoot, item.path)
                        $0.data = FileManager.default.contents(atPath: path) ?? Data()
                    }
                }
            }
        }
    }

    static func join(_ root: String?, _ path: String) -> String {
        guard let root, !root.isEmpty else { return path }
        return root.hasSuffix("/") || path.hasPrefix("/") ? root + path : root + "/" + path
    }
}

/// The terminal progress line: done/total, images/s, ETA, workers, failures.
struct ProgressLine {
    let enabled: Bool
    let started: Millis
    let resumed: UInt64
    var lastDraw: Millis = 0
    var rate: Double = 0
    var lastSample: (Millis, UInt64)?

    init(enabled: Bool, started: Millis, resumed: UInt64) {
        self.enabled = enabled
        self.started = started
        self.resumed = resumed
    }

    /// Returns the smoothed images/s.
    mutating func update(now: Millis, machine: CoordinatorMachine) -> Double {
        let done = machine.imagesDone + machine.imagesFailed
        if let (t, d) = lastSample {
            guard now - t >= 500 else { return rate }
            let instant = Double(done - d) * 1000 / Double(now - t)
            rate = rate == 0 ? instant : 0.7 * rate + 0.3 * instant
        }
        lastSample = (now, done)
        if enabled {
            let total = machine.totalImages
            let eta = rate > 0 && total > done ? String(format: "%.0fs", Double(total - done) / rate) : "-"
            let line = "\r\(done)/\(total) images  \(Int(rate)) img/s  ETA \(eta)  workers \(machine.workerCount)  "
                + "leased \(machine.leaseCount)  failed \(machine.imagesFailed)   "
            FileHandle.standardError.write(Data(line.utf8))
        }
        return rate
    }

    func clear() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
