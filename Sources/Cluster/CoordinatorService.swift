import Foundation
import Imaging
import Logging
import Wire
import ZeroMQ
import Base
import ClusterCore

/// Drives a CoordinatorMachine: one thread streams the list into it, polls the ROUTER socket,
/// hands events and `now` to the machine, and carries out its actions (send, assign, commit
/// = shard file + journal, log). Memory holds the leased and read-ahead shards, not the list.
///
/// Before it binds, it takes the run directory's lock, reads the list once through the one
/// list reader (hash, rows, label table, a sample), checks the run's identity against the
/// journal (docs/lists.md, "Run identity"), checks that the sampled images can be read, and
/// checks the finished shards' files (CoordinatorService+Resume.swift).
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
        /// Where this process finds the images (`ImageRoot.join`): to ship them, and to check a
        /// sample before the run. Recorded in the journal; a change on resume retries failed rows.
        public var root: String?
        /// The deadline of each of those reads, milliseconds (`BoundedFileReader`; 0: none).
        public var readTimeoutMilliseconds = BoundedFileReader.defaultTimeoutMilliseconds
        /// Whether this process sees the images as the workers do (`extract`, `--ship-images`,
        /// or `--root` given): then a sample of which none is readable stops the run before it
        /// starts. Otherwise it is only a warning.
        public var rootIsAuthoritative = false
        /// How rows are labelled (the run's one label table is built with it).
        public var labelRule = LabelRule()
        /// Delete the run directory's journal and shards first: start over.
        public var restart = false
        /// Compute the failed rows of a finished or resumed run again.
        public var retryFailed = false
        /// Where progress goes: a bar on a terminal, periodic log lines, or nowhere.
        public var progress = ProgressMode.none
        /// Keep the run directory once the store is merged and verified (by default it is
        /// removed: the store holds everything in it).
        public var keepRunDirectory = false
        public init(bind: String, listPath: String, runDirectory: String, output: String) {
            self.bind = bind
            self.listPath = listPath
            self.runDirectory = runDirectory
            self.output = output
        }
    }

    public struct Report: Sendable {
        public var merge: MergeSummary
        public var seconds: Double
        /// Rows computed (embedded or failed) by this run, not resumed ones.
        public var imagesThisRun: UInt64
        public var failuresByCategory: [String: UInt64]
        /// What happened to this incarnation's leases.
        public var leases: LeaseCounters
    }

    public enum Outcome: Sendable {
        case finished(Report)
        case stopped
    }

    /// Makes the sink for a run, once the list's summary is known.
    public typealias SinkFactory = (_ summary: ListSummary) throws -> ShardSink

    let settings: CoordinatorMachine.Settings
    let options: Options
    let makeSink: SinkFactory
    let logger: Logger

    public init(settings: CoordinatorMachine.Settings, options: Options, logger: Logger, sink: @escaping SinkFactory) {
        self.settings = settings
        self.options = options
        self.makeSink = sink
        self.logger = logger
    }

    /// Runs the coordinator until every shard is done (then merges) or `stop` is set (the
    /// journal keeps what is done; run again to resume). `onBound` gets the bound endpoint.
    public func run(stop: StopFlag, onBound: (String) -> Void = { _ in }) throws -> Outcome {
        let lock = try RunLock(directory: options.runDirectory)
        defer { withExtendedLifetime(lock) {} }
        if options.restart { try clearRunDirectory() }
        let summary: ListSummary
        do { summary = try ListSummary.scan(path: options.listPath, rule: options.labelRule) } catch {
            throw ClusterError.list(path: options.listPath, reason: error.reason)
        }
        guard summary.count > 0 else { throw ClusterError.list(path: options.listPath, reason: "has no rows (docs/lists.md)") }
        let header = Journal.Header(
            list: .init(sha256: summary.sha256, bytes: summary.byteCount, rows: summary.count,
                        labels: summary.labels.names.count, labelsSHA256: ListSummary.digest(labelNames: summary.labels.names)),
            model: settings.model, shardSize: options.shardSize,
            listPath: URL(fileURLWithPath: options.listPath).standardized.path, root: options.root)
        let sink = try makeSink(summary)
        if !options.restart, !FileManager.default.fileExists(atPath: options.runDirectory + "/journal"),
           let (done, failures) = sink.finishedStore(at: options.output) {
            logger.info("the store is already complete for this list and model; nothing to do (--restart computes it again)",
                        metadata: ["store": "\(options.output)", "rows": "\(done.rows)"])
            _ = try RunDirectory.removeFinished(options.runDirectory)
            return .finished(Report(merge: done, seconds: 0, imagesThisRun: 0, failuresByCategory: failures, leases: LeaseCounters()))
        }
        let journal = try Journal(directory: options.runDirectory, header: header)
        var retryFailed = options.retryFailed
        var grownFrom: Int?
        if let recorded = journal.recorded {
            let resume = try RunIdentity.resume(recorded, as: header, labelNames: summary.labels.names,
                                                listPath: options.listPath, journalPath: options.runDirectory)
            grownFrom = resume.grownFrom
            if let old = resume.grownFrom {
                logger.info("the list grew; computing its new rows", metadata: ["rowsBefore": "\(old)", "rowsNow": "\(summary.count)"])
            }
            if resume.rootChanged, !journal.entries.isEmpty {
                logger.info("--root changed since the last run; retrying its failed rows", metadata: [
                    "before": "\(recorded.root ?? "(none)")", "now": "\(options.root ?? "(none)")"])
                retryFailed = true
            }
            try journal.adopt(header)
        }
        try RunDirectory.writeLabelNames(summary.labels.names, in: options.runDirectory)
        try preflight(summary)
        try repairRunDirectory(journal, sink: sink)

        var machine = CoordinatorMachine(settings: settings)
        machine.totalImages = UInt64(summary.count)
        for entry in journal.entries.values {
            machine.countResumed(embedded: entry.embedded, failed: entry.failed, byCategory: entry.failuresByCategory)
        }
        let resumedImages = machine.imagesDone + machine.imagesFailed
        let resumed = (embedded: machine.imagesDone, failed: machine.imagesFailed)
        let metrics = RunMetrics(runID: settings.runID)
        var metricsAt: Millis?
        if !journal.entries.isEmpty {
            logger.info("resuming", metadata: ["shardsDone": "\(journal.entries.count)", "imagesDone": "\(resumedImages)"])
        }
        let retry = retryFailed ? Set(journal.entries.values.filter { $0.failed > 0 }.map(\.key)) : []
        let reader: ListReader
        do { reader = try ListReader(path: options.listPath) } catch {
            throw ClusterError.list(path: options.listPath, reason: error.reason)
        }
        let source = ShardSource(reader: reader, summary: summary, shardSize: options.shardSize, done: journal.entries.keys,
                                 retry: retry, failedRows: sink.failedRows(of:), grownFrom: grownFrom)

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
        if settings.insecure {
            logger.warning("serving plain TCP on an address that is not loopback (--insecure): anyone who reaches it can take work, send results and read status; use CURVE (docs/operations.md, section 2)", metadata: ["endpoint": "\(router.lastEndpoint)"])
        }
        logger.info("coordinator serving", metadata: [
            "endpoint": "\(router.lastEndpoint)", "curve": "\(options.curve != nil)", "images": "\(machine.totalImages)",
            "identities": "\(summary.labels.names.count)", "model": "\(settings.model)",
        ])

        let started = MonotonicClock.now()
        var progress = ProgressDisplay(mode: options.progress, started: started, logger: logger)
        var throttle = LogThrottle()
        let poller = Poller()
        func write(_ line: LogThrottle.Line) {
            logger.log(level: line.level.logging, "\(line.message)", metadata: line.metadata.mapValues { .string($0) })
        }

        // Shards finished in one loop iteration are journaled with one write and one fsync.
        // A shard is journaled only after its file is durable; a crash before that just redoes it.
        var commits: [ShardResult] = []
        func flushCommits() throws {
            guard !commits.isEmpty else { return }
            var tallies: [ShardTally] = []
            defer { commits.removeAll(keepingCapacity: true) }
            do {
                for commit in commits { tallies.append(try sink.write(commit)) }
            } catch {
                // The shards written before the one that failed (a full disk) stay done.
                if !tallies.isEmpty { try journal.record(tallies) }
                throw error
            }
            try journal.record(tallies)
        }

        func perform(_ actions: [CoordinatorMachine.Action]) throws -> Bool {
            var finished = false
            for action in actions {
                switch action {
                case let .log(level, message, metadata):
                    for line in throttle.admit(.init(level, message, metadata), now: MonotonicClock.now()) { write(line) }
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
                machine.uncountRetried(source.takeRetried())
                if shards.isEmpty {
                    guard reader.sha256 == summary.sha256 else {
                        throw ClusterError.list(path: options.listPath, reason: "changed while the run read it; run again to resume")
                    }
                    machine.markListExhausted()
                    break
                }
                for shard in shards { if try perform(machine.enqueue(shard)) { finished = true } }
            }
            if stop.isSet {
                try flushCommits()
                for line in throttle.flush(now: MonotonicClock.now()) { write(line) }
                progress.clear()
                logger.info("stopping on signal; the run directory keeps what is done (run again to resume)")
                return .stopped
            }
            let ready = try poller.readable([router], timeoutMilliseconds: 20)
            if ready[0] {
                var budget = 1024
                while budget > 0, let frames = try router.receive() {
                    budget -= 1
                    guard frames.count == 2, !frames[0].isEmpty else {
                        for line in throttle.admit(.init(.warning, "dropped a message of other than 2 frames (routing id + 1 frame)",
                                                         ["frames": "\(frames.count)"]), now: MonotonicClock.now()) { write(line) }
                        continue
                    }
                    let envelope: Envelope
                    do { envelope = try WireCodec.decode(frames[1], maxBytes: options.maxMessageBytes) } catch {
                        for line in throttle.admit(.init(.warning, "dropped a message", ["reason": "\(error)", "bytes": "\(frames[1].count)"]),
                                                   now: MonotonicClock.now()) { write(line) }
                        continue
                    }
                    if try perform(machine.receive(envelope, from: frames[0], now: MonotonicClock.now())) { finished = true }
                }
            }
            let now = MonotonicClock.now()
            for line in throttle.due(now: now) { write(line) }
            if try perform(machine.tick(now: now)) { finished = true }
            try flushCommits()
            machine.throughput = progress.update(now: now, done: machine.imagesDone + machine.imagesFailed + machine.imagesInProgress,
                                                 total: machine.totalImages, failed: machine.imagesFailed, workers: machine.workerCount)
            if metricsAt.map({ now - $0 >= 1_000 }) ?? true {
                metricsAt = now
                metrics.update(machine.status(now: now), now: now, resumed: resumed)
            }
        }
        try flushCommits()
        for line in throttle.flush(now: MonotonicClock.now()) { write(line) }
        progress.clear()
        try router.setLinger(1_000)  // let Finished reach the workers
        metrics.update(machine.status(now: MonotonicClock.now()), now: MonotonicClock.now(), resumed: resumed)
        metrics.merged(0, of: Int(machine.totalImages))
        let merged = try mergeShards(journal, sink: sink) { written, total in metrics.merged(written, of: total) }
        metrics.merged(merged.rows, of: merged.rows)
        if options.keepRunDirectory {
        } else if merged.failed > 0 {
            logger.info("kept the run directory: rows failed, and --retry-failed recomputes them from it",
                        metadata: ["runDir": "\(options.runDirectory)", "failed": "\(merged.failed)"])
        } else {
            try removeRunDirectory(verifying: merged, sink: sink)
        }
        metrics.markFinished()
        let seconds = Double(MonotonicClock.now() - started) / 1000
        return .finished(Report(merge: merged, seconds: seconds,
                                imagesThisRun: machine.rowsCompleted,
                                failuresByCategory: machine.failuresByCategory, leases: machine.counters))
    }

    /// Once the store of a run without failed rows reads back whole, the run directory holds
    /// nothing it lacks (a run with failed rows keeps it for `--retry-failed`): removed
    /// (shards, journal, label names, lock; the directory when nothing else is in it).
    func removeRunDirectory(verifying merged: MergeSummary, sink: ShardSink) throws {
        let started = MonotonicClock.now()
        try sink.verify(merged)
        let left = try RunDirectory.removeFinished(options.runDirectory)
        var metadata: Logger.Metadata = ["runDir": "\(options.runDirectory)", "verifyMs": "\(MonotonicClock.now() - started)"]
        if !left.isEmpty { metadata["leftAlone"] = "\(left.joined(separator: ", "))" }
        logger.info("the store reads back whole; removed the run directory (--keep-run-dir keeps it)", metadata: metadata)
    }

    /// `--restart`: the journal, the label names and the shard files go; the lock stays held.
    func clearRunDirectory() throws {
        try RunDirectory.remove(RunDirectory.runFiles, in: options.runDirectory, why: "cannot remove for --restart")
        logger.info("--restart: cleared the run directory", metadata: ["runDir": "\(options.runDirectory)"])
    }

    /// Reads the sampled rows' files under `options.root`. None readable: the run cannot work
    /// (a wrong `--root` is the usual cause), so it stops before any worker starts.
    func preflight(_ summary: ListSummary) throws {
        let samples = summary.samples
        guard !samples.isEmpty else { return }
        var failures: [ImagingError] = []
        for entry in samples where !entry.path.contains("synthetic:") {
            do {
                _ = try BoundedFileReader.shared.read(ImageRoot.join(options.root, entry.path), maxBytes: 1 << 30,
                                                      timeoutMilliseconds: options.readTimeoutMilliseconds)
            } catch {
                failures.append(error)
            }
        }
        guard !failures.isEmpty else { return }
        let place = options.root.map { "under --root \($0)" } ?? "relative to this directory (no --root)"
        guard failures.count == samples.count else {
            logger.warning("some sampled images are unreadable here", metadata: [
                "unreadable": "\(failures.count)", "sampled": "\(samples.count)", "first": "\(failures[0])"])
            return
        }
        let message = """
            none of the \(samples.count) list rows sampled is readable \(place); the first: \(failures[0]). \
            List paths are joined to --root (docs/lists.md): is --root right?
            """
        guard options.rootIsAuthoritative else {
            logger.warning("\(message) Going on: the workers may see them under their own --root.")
            return
        }
        throw ClusterError.preflight(message)
    }

    /// The Assign of a leased shard: its typed items, with the image bytes when shipping. A
    /// shipped shard stays under the message limit: an image that would take it over fails
    /// with the reason (a smaller --shard-size ships it), and never stalls the shard.
    func assign(_ shard: Shard, _ leaseMilliseconds: Millis) -> Assign {
        // Shipping reads run on the serving thread: a stalled one must not silence the
        // coordinator past its workers' heartbeat timeout. With at most 4 stuck reads before
        // reads fail at once (BoundedFileReader), a fifth of the timeout each keeps it under.
        let shippingReadTimeout = options.readTimeoutMilliseconds == 0 ? 0
            : min(options.readTimeoutMilliseconds, Int(settings.heartbeatTimeout / 5))
        var budget = options.maxMessageBytes - (64 << 10)  // room for the envelope and paths
        return Assign.with {
            $0.shardFirst = shard.key.first
            $0.shardCount = shard.key.count
            $0.attempt = shard.attempts
            $0.leaseMs = UInt32(clamping: leaseMilliseconds)
            $0.items = shard.computable.map { item in
                Item.with {
                    $0.index = item.index
                    $0.path = item.path
                    $0.landmarks = item.landmarks
                    guard settings.shipImages else { return }
                    let index = item.index
                    func unreadable(_ category: String, _ reason: String) -> Failure {
                        Failure.with { $0.index = index; $0.category = category; $0.reason = reason }
                    }
                    do throws(ImagingError) {
                        let bytes = try BoundedFileReader.shared.read(ImageRoot.join(options.root, item.path), maxBytes: max(0, budget),
                                                                      timeoutMilliseconds: shippingReadTimeout)
                        budget -= bytes.count + item.path.utf8.count + 32
                        $0.data = Data(bytes)
                    } catch let .fileTooLarge(path, size, _) {
                        $0.unreadable = unreadable(ImagingError.Kind.tooLarge.rawValue, """
                            \(path): \(size) bytes do not fit in the shipped shard (--max-message-bytes \(options.maxMessageBytes)); \
                            use a smaller --shard-size
                            """)
                    } catch {
                        $0.unreadable = unreadable(error.kind.rawValue, "the coordinator could not read it to ship it: \(error)")
                    }
                }
            }
        }
    }
}
