import Wire

/// A leased shard as the worker computes it.
public struct Assignment: Sendable, Equatable {
    public var key: ShardKey
    public var attempt: UInt32
    public var items: [Item]
    /// The worker's session the lease belongs to (a Result of an older session is dropped).
    public var session: UInt32
    public init(key: ShardKey, attempt: UInt32, items: [Item], session: UInt32 = 0) {
        self.key = key
        self.attempt = attempt
        self.items = items
        self.session = session
    }
}

/// What the compute thread is doing, as the loop tells the machine before each event: the
/// lease it computes and how long it has been in its current step (one image read, or one
/// batch embedded). The machine reports both in its heartbeats.
public struct ComputeState: Sendable, Equatable {
    public var lease: LeaseRef?
    public var stepMilliseconds: Millis
    public init(lease: LeaseRef? = nil, stepMilliseconds: Millis = 0) {
        self.lease = lease
        self.stepMilliseconds = stepMilliseconds
    }
}

/// The worker's protocol logic, pure: events and `now` in, actions out. The loop in
/// WorkerService owns the socket and the compute thread. Protocols/README.md, "Worker state
/// machine", is the spec of this type.
public struct WorkerMachine {
    public struct Settings: Sendable {
        public var workerID: String
        public var model: ModelInfo
        public var prefetch: UInt32 = 2
        public var hostname = ""
        public var pid: UInt32 = 0
        public var software = ""
        /// Used until Welcome carries the coordinator's values; also bounds the wait for Welcome.
        public var heartbeatInterval: Millis = 1_000
        public var heartbeatTimeout: Millis = 5_000
        public var backoffInitial: Millis = 250
        public var backoffMax: Millis = 10_000
        /// After SIGTERM, how long to finish the current shard before handing it back.
        public var drainTimeout: Millis = 30_000
        public init(workerID: String, model: ModelInfo) {
            self.workerID = workerID
            self.model = model
        }
    }

    public enum Phase: Equatable, Sendable {
        case disconnected(retryAt: Millis)
        case greeting(since: Millis)
        case working
        case draining(deadline: Millis)
        case exited
    }

    public enum Action: Equatable {
        /// Write a log line (the machine has no logger; the loop owns it).
        case log(LogLevel, String, [String: String])
        /// Close any socket and open a fresh one to the coordinator.
        case connect
        case send(Envelope)
        /// Queue this shard for the compute thread.
        case compute(Assignment)
        /// Drop every queued shard that has not started (results of a running one will arrive
        /// and be dropped by `computed`).
        case cancelQueued
        /// Drop this queued shard if it has not started (a revoked lease); report it back with
        /// `dropped`.
        case cancel(ShardKey)
        /// Exit the process with this status after flushing sends.
        case exit(code: Int32, reason: String)
    }

    public let settings: Settings
    public private(set) var phase: Phase = .disconnected(retryAt: 0)
    /// Leases held: queued or computing, by shard, with their attempt.
    public private(set) var held: [ShardKey: UInt32] = [:]
    /// Revoked leases whose Result is still sent if the compute thread finishes them (the
    /// coordinator may take a late Result): by shard, with their attempt.
    public private(set) var revoked: [ShardKey: UInt32] = [:]
    /// Greetings so far; the current session is the latest (Hello.session, Welcome.session).
    public private(set) var session: UInt32 = 0
    /// Assigns received since the session's Welcome (Heartbeat.assigns_received).
    public private(set) var assignsReceived: UInt64 = 0
    /// Set by the loop before each event.
    public var compute = ComputeState()
    var interval: Millis
    var timeout: Millis
    var backoff: Millis
    var lastHeard: Millis = 0
    var lastSent: Millis = 0
    public private(set) var shipImages = false

    public init(settings: Settings) {
        self.settings = settings
        interval = settings.heartbeatInterval
        timeout = settings.heartbeatTimeout
        backoff = settings.backoffInitial
    }

    // MARK: Events

    public mutating func start(now: Millis) -> [Action] { greet(now: now, connect: true) }

    public mutating func tick(now: Millis) -> [Action] {
        switch phase {
        case let .disconnected(retryAt) where now >= retryAt:
            return greet(now: now, connect: true)
        case let .greeting(since) where now - since > settings.heartbeatTimeout:
            return [.log(.warning, "no Welcome from the coordinator; reconnecting", ["backoffMs": "\(backoff)"])] + disconnect(now: now)
        case .working where now - lastHeard > timeout:
            return [.log(.warning, "coordinator silent past the heartbeat timeout; dropping leases and reconnecting", ["held": "\(held.count)"])]
                + disconnect(now: now)
        case let .draining(deadline):
            if held.isEmpty { return leave("drained after SIGTERM", now: now) }
            if now >= deadline || now - lastHeard > timeout {
                var actions: [Action] = []
                for (key, attempt) in held.sorted(by: { $0.key < $1.key }) {
                    actions.append(.send(WireCodec.envelope(.release(release(key, attempt, "worker shutting down (drain timeout)", .shuttingDown)))))
                }
                held = [:]
                return actions + leave("handed back unfinished shards after SIGTERM", now: now)
            }
            return heartbeatIfDue(now: now)
        case .working:
            return heartbeatIfDue(now: now)
        default:
            return []
        }
    }

    public mutating func receive(_ envelope: Envelope, now: Millis) -> [Action] {
        lastHeard = now
        switch envelope.body {
        case let .welcome(w):
            guard case .greeting = phase else { return [] }
            // A Welcome to an earlier Hello of this process (its session was reset before the
            // Welcome came): the Welcome to the latest Hello follows.
            guard w.session == 0 || w.session == session else {
                return [.log(.debug, "ignored the Welcome of an earlier session", ["session": "\(w.session)", "current": "\(session)"])]
            }
            phase = .working
            assignsReceived = 0
            backoff = settings.backoffInitial
            if w.heartbeatIntervalMs > 0 { interval = Millis(w.heartbeatIntervalMs) }
            if w.heartbeatTimeoutMs > 0 { timeout = Millis(w.heartbeatTimeoutMs) }
            shipImages = w.shipImages
            return [.log(.info, "welcomed by the coordinator", ["run": w.runID])]
        case let .refuse(r):
            phase = .exited
            return [.log(.error, "refused by the coordinator", ["reason": r.reason]),
                    .exit(code: 2, reason: "refused by the coordinator: \(r.reason)")]
        case let .assign(a):
            let key = ShardKey(first: a.shardFirst, count: a.shardCount)
            switch phase {
            case .working:
                assignsReceived += 1
                if let why = Self.malformed(a) {
                    return [.log(.warning, "malformed Assign; handing it back", ["shard": "\(key)", "reason": why]),
                            send(.release(release(key, a.attempt, "malformed Assign: \(why)", .malformed)), now: now)]
                }
                guard held.count < Int(settings.prefetch), held[key] == nil else {
                    return [.log(.warning, "Assign beyond prefetch; handing it back", ["shard": "\(key)", "held": "\(held.count)"]),
                            send(.release(release(key, a.attempt, "worker cannot take it (prefetch full)", .prefetchFull)), now: now)]
                }
                held[key] = a.attempt
                return [.compute(Assignment(key: key, attempt: a.attempt, items: a.items, session: session))]
            case .draining:
                assignsReceived += 1
                return [send(.release(release(key, a.attempt, "worker shutting down", .shuttingDown)), now: now)]
            default:
                return []
            }
        case let .revoke(r):
            let key = ShardKey(first: r.shardFirst, count: r.shardCount)
            guard held[key] == r.attempt else { return [] }
            held[key] = nil
            revoked[key] = r.attempt
            var actions: [Action] = [.log(.info, "lease revoked by the coordinator", ["shard": "\(key)", "reason": r.reason]), .cancel(key)]
            if case .draining = phase, held.isEmpty { actions += leave("drained after SIGTERM", now: now) }
            return actions
        case let .reset(r):
            // Already greeting: this Reset answers a message sent before our Hello (heartbeats
            // queued while the coordinator was down); the Welcome to that Hello is on its way.
            if case .greeting = phase { return [] }
            held = [:]
            revoked = [:]
            let note = Action.log(.warning, "coordinator reset this session; greeting again", ["reason": r.reason])
            if case .draining = phase { return [note, .cancelQueued] + leave("coordinator reset during drain", now: now) }
            return [note, .cancelQueued] + greet(now: now, connect: false)
        case .finished:
            phase = .exited
            return [.cancelQueued, .exit(code: 0, reason: "the run is finished")]
        case .heartbeat:
            return []
        default:
            return [.log(.warning, "dropped a message a worker never accepts", ["kind": envelope.kind])]
        }
    }

    /// The compute thread finished a shard of `session`.
    public mutating func computed(_ result: ShardResultMessage, session: UInt32, now: Millis) -> [Action] {
        let key = ShardKey(first: result.shardFirst, count: result.shardCount)
        guard session == self.session else {
            return [.log(.info, "dropped the result of a lease from an earlier session", ["shard": "\(key)"])]
        }
        if held[key] == result.attempt {
            held[key] = nil
        } else if revoked[key] == result.attempt {
            // Revoked while it ran: the coordinator takes it if nobody finished the shard since.
            revoked[key] = nil
        } else {
            return [.log(.info, "dropped the result of a lease no longer held", ["shard": "\(key)"])]
        }
        switch phase {
        case .working, .draining:
            var actions = [send(.result(result), now: now)]
            if case .draining = phase, held.isEmpty { actions += leave("drained after SIGTERM", now: now) }
            return actions
        default:
            return []
        }
    }

    /// The compute thread reports how far a held shard has come (rows finished).
    public mutating func progressed(_ key: ShardKey, attempt: UInt32, rows: Int, now: Millis) -> [Action] {
        guard held[key] == attempt else { return [] }
        switch phase {
        case .working, .draining:
            return [send(.progress(Progress.with {
                $0.shardFirst = key.first
                $0.shardCount = key.count
                $0.attempt = attempt
                $0.rowsDone = UInt32(clamping: rows)
            }), now: now)]
        default:
            return []
        }
    }

    /// SIGTERM: say Drain (no new work), hand back what has not started, finish the current shard.
    public mutating func terminate(now: Millis) -> [Action] {
        switch phase {
        case .working:
            phase = .draining(deadline: now + settings.drainTimeout)
            return [send(.drain(Drain.with { $0.reason = "SIGTERM" }), now: now), .cancelQueued]
        case .draining, .exited:
            return []
        default:
            phase = .exited
            return [.exit(code: 0, reason: "SIGTERM while not connected")]
        }
    }

    /// The loop cancelled these queued shards; hand back the held ones.
    public mutating func cancelled(_ keys: [ShardKey], now: Millis) -> [Action] {
        var actions: [Action] = []
        for key in keys {
            revoked[key] = nil
            guard let attempt = held.removeValue(forKey: key) else { continue }
            actions.append(send(.release(release(key, attempt, "worker shutting down", .shuttingDown)), now: now))
        }
        if case .draining = phase, held.isEmpty { actions += leave("drained after SIGTERM", now: now) }
        return actions
    }

    // MARK: Helpers

    mutating func greet(now: Millis, connect: Bool) -> [Action] {
        phase = .greeting(since: now)
        session += 1
        let session = session
        let hello = Hello.with {
            $0.session = session
            $0.workerID = settings.workerID
            $0.model = settings.model.wire
            $0.prefetch = settings.prefetch
            $0.hostname = settings.hostname
            $0.pid = settings.pid
            $0.software = settings.software
        }
        return (connect ? [.connect] : []) + [send(.hello(hello), now: now)]
    }

    mutating func disconnect(now: Millis) -> [Action] {
        held = [:]
        revoked = [:]
        phase = .disconnected(retryAt: now + backoff)
        backoff = min(backoff * 2, settings.backoffMax)
        return [.cancelQueued]
    }

    mutating func leave(_ reason: String, now: Millis) -> [Action] {
        phase = .exited
        return [send(.bye(Bye.with { $0.reason = reason }), now: now), .exit(code: 0, reason: reason)]
    }

    mutating func heartbeatIfDue(now: Millis) -> [Action] {
        now - lastSent >= interval ? [send(.heartbeat(heartbeat()), now: now)] : []
    }

    /// What this worker holds and how its compute thread is doing (README 4.4, 4.5).
    func heartbeat() -> Heartbeat {
        Heartbeat.with {
            $0.held = held.sorted { $0.key < $1.key }.map { LeaseRef(first: $0.key.first, count: $0.key.count, attempt: $0.value) }
            $0.assignsReceived = assignsReceived
            $0.stepMs = UInt32(clamping: compute.stepMilliseconds)
            if let lease = compute.lease { $0.computing = lease }
        }
    }


    mutating func send(_ body: Envelope.OneOf_Body, now: Millis) -> Action {
        lastSent = now
        return .send(WireCodec.envelope(body))
    }

    /// Why an Assign breaks the protocol (section 2, Assign), or nil.
    static func malformed(_ a: Assign) -> String? {
        guard a.shardCount >= 1, !a.items.isEmpty, a.items.count <= Int(a.shardCount) else {
            return "\(a.items.count) items for a shard of \(a.shardCount) rows"
        }
        let rows = a.shardFirst..<(a.shardFirst + UInt64(a.shardCount))
        var previous: UInt64?
        for item in a.items {
            guard rows.contains(item.index), previous.map({ item.index > $0 }) ?? true else {
                return "item \(item.index) is outside the shard or out of order"
            }
            guard item.landmarks.isEmpty || item.landmarks.count == 10 else {
                return "item \(item.index) has \(item.landmarks.count) landmark values"
            }
            previous = item.index
        }
        return nil
    }

    func release(_ key: ShardKey, _ attempt: UInt32, _ reason: String, _ kind: ReleaseKind) -> Release {
        Release.with {
            $0.shardFirst = key.first
            $0.shardCount = key.count
            $0.attempt = attempt
            $0.reason = reason
            $0.kind = kind
        }
    }
}
