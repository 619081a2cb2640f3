import Foundation
import Logging
import Wire
import ZeroMQ
import Base
import ClusterCore

/// Drives a WorkerMachine: one thread polls the coordinator socket and the compute thread's
/// wake-up socket, hands events and `now` to the machine, and carries out its actions.
/// Shards are computed on one separate compute thread, so heartbeats flow during compute.
public final class WorkerService {
    public struct Options: Sendable {
        public var endpoint: String
        /// CURVE: this worker's keys and the coordinator's public key. nil: plain TCP.
        public var curve: (keys: CurveKeyPair, serverKey: String)?
        public var maxMessageBytes = WireCodec.defaultMaxBytes
        public init(endpoint: String) { self.endpoint = endpoint }
    }

    let settings: WorkerMachine.Settings
    let options: Options
    let pipeline: PipelineBox
    let logger: Logger

    public init(settings: WorkerMachine.Settings, options: Options, pipeline: WorkerPipeline, logger: Logger) {
        self.settings = settings
        self.options = options
        self.pipeline = PipelineBox(pipeline)
        self.logger = logger
    }

    /// Runs until the machine exits; returns the process exit status.
    public func run(stop: StopFlag) throws -> Int32 {
        let context = try Context()
        let wakeEndpoint = "inproc://magfleet-compute-\(UUID().uuidString)"
        let wake = try Socket(context, .pull)
        try wake.bind(wakeEndpoint)
        let jobs = JobQueue()
        let compute = ComputeThread(context: context, endpoint: wakeEndpoint, jobs: jobs, pipeline: pipeline)
        compute.start()
        defer {
            // Before this function's sockets and context go: the context's last release waits
            // (up to the linger set at exit) for Result/Release/Bye to leave, and it must happen
            // here, not on the compute thread after the process has begun to exit.
            if !compute.stop(timeout: .seconds(2)) {
                logger.warning("the compute thread is still in a shard; exiting without it")
            }
        }

        var machine = WorkerMachine(settings: settings)
        var throttle = LogThrottle()
        var socket: Socket?
        var connections = 0
        var stopping = false
        let poller = Poller()

        func connect() throws {
            socket = nil
            connections += 1
            let s = try Socket(context, .dealer)
            try s.setRoutingID(Array("\(settings.workerID)/\(connections)".utf8))
            try s.setMaxMessageSize(Int64(options.maxMessageBytes))
            try s.setReconnectInterval(100, max: 5_000)
            if let curve = options.curve { try s.makeCurveClient(keys: curve.keys, serverKey: curve.serverKey) }
            try s.connect(options.endpoint)
            socket = s
            logger.info("connecting", metadata: ["endpoint": "\(options.endpoint)", "attempt": "\(connections)"])
        }

        func write(_ line: LogThrottle.Line) {
            logger.log(level: line.level.logging, "\(line.message)", metadata: line.metadata.mapValues { .string($0) })
        }

        // Returns an exit status when the machine says to exit.
        func perform(_ actions: [WorkerMachine.Action]) throws -> Int32? {
            var pending = actions[...]
            while let action = pending.popFirst() {
                switch action {
                case let .log(level, message, metadata):
                    for line in throttle.admit(.init(level, message, metadata), now: MonotonicClock.now()) { write(line) }
                case .connect:
                    try connect()
                case let .send(envelope):
                    guard let socket else { continue }
                    do { try socket.send([WireCodec.encode(envelope)]) } catch let e as ZeroMQError where e.isWouldBlock {
                        logger.debug("send dropped: not connected", metadata: ["kind": "\(envelope.kind)"])
                        continue
                    }
                    if case let .result(r) = envelope.body {
                        logger.debug("result sent", metadata: ["shard": "\(r.shardFirst)+\(r.shardCount)", "attempt": "\(r.attempt)"])
                    }
                case let .compute(assignment):
                    jobs.push(Job(assignment: assignment, shipped: machine.shipImages))
                case .cancelQueued:
                    let keys = jobs.removeAll()
                    pending.append(contentsOf: machine.cancelled(keys, now: MonotonicClock.now()))
                case let .cancel(key):
                    if jobs.remove(key) { pending.append(contentsOf: machine.cancelled([key], now: MonotonicClock.now())) }
                case let .exit(code, reason):
                    for line in throttle.flush(now: MonotonicClock.now()) { write(line) }
                    logger.info("worker exiting", metadata: ["reason": "\(reason)", "status": "\(code)"])
                    if code != 0 { FileHandle.standardError.write(Data("magfleet worker: \(reason)\n".utf8)) }
                    try socket?.setLinger(1_000)  // let Result/Release/Bye leave before the context closes
                    return code
                }
            }
            return nil
        }

        if let code = try perform(machine.start(now: MonotonicClock.now())) { return code }
        while true {
            let sockets = [wake] + (socket.map { [$0] } ?? [])
            let ready = try poller.readable(sockets, timeoutMilliseconds: 50)
            if stop.isSet, !stopping {
                stopping = true
                logger.info("SIGTERM: finishing the current shard, handing back the rest")
                if let code = try perform(machine.terminate(now: MonotonicClock.now())) { return code }
            }
            if ready[0] { while (try? wake.receive()) ?? nil != nil {} }
            let (results, progress) = compute.take()
            machine.compute = compute.state(now: MonotonicClock.now())
            for (job, rows) in progress.sorted(by: { $0.key.key < $1.key.key }) {
                if let code = try perform(machine.progressed(job.key, attempt: job.attempt, rows: rows, now: MonotonicClock.now())) { return code }
            }
            for (result, session) in results {
                if let code = try perform(machine.computed(result, session: session, now: MonotonicClock.now())) { return code }
            }
            if ready.count > 1, ready[1], let s = socket {
                var budget = 256
                while budget > 0, let frames = try s.receive() {
                    budget -= 1
                    guard frames.count == 1 else {
                        for line in throttle.admit(.init(.warning, "dropped a message of other than 1 frame", ["frames": "\(frames.count)"]),
                                                   now: MonotonicClock.now()) { write(line) }
                        continue
                    }
                    let envelope: Envelope
                    do { envelope = try WireCodec.decode(frames[0], maxBytes: options.maxMessageBytes) } catch {
                        for line in throttle.admit(.init(.warning, "dropped a message", ["reason": "\(error)"]), now: MonotonicClock.now()) { write(line) }
                        continue
                    }
                    if let code = try perform(machine.receive(envelope, now: MonotonicClock.now())) { return code }
                    if socket !== s { break }  // a Reset may have reconnected
                }
            }
            for line in throttle.due(now: MonotonicClock.now()) { write(line) }
            if let code = try perform(machine.tick(now: MonotonicClock.now())) { return code }
        }
    }
}

struct Job: Sendable {
    var assignment: Assignment
    var shipped: Bool
}

/// The compute thread's queue of shards; `removeAll` cancels those not started.
final class JobQueue: @unchecked Sendable {  // @unchecked: every field is guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var closed = false

    func push(_ job: Job) {
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    /// Removes the queued job of `key`; false when it is not queued (started, or gone).
    func remove(_ key: ShardKey) -> Bool {
        condition.withLock {
            guard let i = jobs.firstIndex(where: { $0.assignment.key == key }) else { return false }
            jobs.remove(at: i)
            return true
        }
    }

    func removeAll() -> [ShardKey] {
        condition.withLock {
            defer { jobs.removeAll() }
            return jobs.map(\.assignment.key)
        }
    }

    func close() {
        condition.withLock {
            closed = true
            condition.broadcast()
        }
    }

    /// Blocks for the next job; nil once closed.
    func pop() -> Job? {
        condition.withLock {
            while jobs.isEmpty && !closed { condition.wait() }
            return closed ? nil : jobs.removeFirst()
        }
    }
}

/// Owns the embedder and loader; only the compute thread touches them once it starts.
final class PipelineBox: @unchecked Sendable {  // @unchecked: handed to the compute thread, used there only.
    let pipeline: WorkerPipeline
    init(_ pipeline: WorkerPipeline) { self.pipeline = pipeline }
}

/// A lease as the compute thread names it in progress reports.
struct JobID: Hashable, Sendable {
    var key: ShardKey
    var attempt: UInt32
}

final class ComputeThread: @unchecked Sendable {  // @unchecked: `results`, `progress`, `current`, `stepStarted` and `context` are guarded by `lock`; the rest is immutable.
    let endpoint: String
    let jobs: JobQueue
    let pipeline: PipelineBox
    private let lock = NSLock()
    private var results: [(ShardResultMessage, session: UInt32)] = []
    /// The job being computed, and when its current step (an image read, a batch) began.
    private var current: JobID?
    private var stepStarted: Millis = 0
    /// The latest rows-finished count of each shard in progress, until the loop takes it.
    private var progress: [JobID: Int] = [:]
    /// The thread's hold on the context, for its wake-up sockets; dropped when it stops.
    private var context: Context?
    private let stopped = DispatchSemaphore(value: 0)

    init(context: Context, endpoint: String, jobs: JobQueue, pipeline: PipelineBox) {
        self.context = context
        self.endpoint = endpoint
        self.jobs = jobs
        self.pipeline = pipeline
    }

    func start() {
        let thread = Thread { [self] in
            while let job = jobs.pop() {
                let id = JobID(key: job.assignment.key, attempt: job.assignment.attempt)
                let total = job.assignment.items.count
                lock.withLock {
                    current = id
                    stepStarted = MonotonicClock.now()
                }
                let result = pipeline.pipeline.run(job.assignment, shipped: job.shipped, step: {
                    let now = MonotonicClock.now()
                    self.lock.withLock { self.stepStarted = now }
                }, progress: { rows in
                    if rows < total { self.lock.withLock { self.progress[id] = rows } }
                })
                lock.withLock {
                    current = nil
                    progress[id] = nil
                    results.append((result, session: job.assignment.session))
                }
                // A socket per wake-up: holding none while computing lets the context close
                // (and the process exit) without waiting for a shard in progress.
                guard let context = lock.withLock({ self.context }), let push = try? Socket(context, .push) else { break }
                try? push.connect(endpoint)
                try? push.send([[1]], wait: false)
            }
            // Let go of the context before saying so, so that the service's thread, not this
            // one, releases it last (`stop`).
            lock.withLock { self.context = nil }
            stopped.signal()
        }
        thread.name = "magfleet-compute"
        thread.start()
    }

    /// Takes no more jobs and waits up to `timeout` for the thread to finish the shard it is
    /// in (none, on a drain or a finished run) and let go of the context. False on timeout.
    func stop(timeout: DispatchTimeInterval) -> Bool {
        jobs.close()
        return stopped.wait(timeout: .now() + timeout) == .success
    }

    /// The lease being computed and how long its current step has lasted.
    func state(now: Millis) -> ComputeState {
        lock.withLock {
            guard let current else { return ComputeState() }
            return ComputeState(lease: LeaseRef(first: current.key.first, count: current.key.count, attempt: current.attempt),
                                stepMilliseconds: max(0, now - stepStarted))
        }
    }

    /// The finished shards (with their session) and the latest progress of the others, since the last call.
    func take() -> (results: [(ShardResultMessage, session: UInt32)], progress: [JobID: Int]) {
        lock.withLock {
            defer {
                results.removeAll()
                progress.removeAll()
            }
            return (results, progress)
        }
    }
}

extension LogLevel {
    var logging: Logger.Level {
        switch self {
        case .debug: .debug
        case .info: .info
        case .warning: .warning
        case .error: .error
        }
    }
}
