import Wire

/// The coordinator's protocol logic, pure: events and `now` in, actions out. No sockets, no
/// files, no clock; the loop in CoordinatorService feeds it and carries out what it returns.
/// Protocols/README.md, "Coordinator state machine", is the spec of this type.
public struct CoordinatorMachine {
    public struct Settings: Sendable {
        public var model: ModelInfo
        public var runID: String
        /// A lease is lost when nothing renews it for this long. A worker's Heartbeat renews
        /// every lease it lists as held, and a Progress renews its lease (README 4.5).
        public var leaseMilliseconds: Millis = 600_000
        /// A worker whose compute thread stays in one step (one image read, one batch
        /// embedded) longer than this is stalled: its leases are lost and it gets no work
        /// until the thread moves again. 0: never.
        public var stallMilliseconds: Millis = 600_000
        public var heartbeatInterval: Millis = 1_000
        public var heartbeatTimeout: Millis = 5_000
        /// Lost leases (expiry, vanished worker) after which a shard is split into single images,
        /// and after which a single image is recorded as failed.
        public var maxLosses: UInt32 = 3
        /// Shards read ahead of the leases; bounds memory with the leases themselves.
        public var pendingWindow = 64
        /// Largest prefetch a worker may claim.
        public var maxPrefetch: UInt32 = 16
        public var shipImages = false
        /// Plain TCP on an address that is not loopback (`--insecure`): said in status.
        public var insecure = false
        public init(model: ModelInfo, runID: String) {
            self.model = model
            self.runID = runID
        }
    }

    public enum Action {
        /// Write a log line (the machine has no logger; the loop owns it).
        case log(LogLevel, String, [String: String])
        case send(PeerID, Envelope)
        /// Lease `shard` (attempt `shard.attempts`) to the peer; the loop builds the Assign
        /// (adding the image bytes when shipping).
        case assign(PeerID, Shard, leaseMilliseconds: Millis)
        /// Make this shard's rows durable, then journal it.
        case commit(ShardResult)
        /// Every shard is done.
        case finished
    }

    public typealias PeerID = [UInt8]

    /// A lease as both sides name it: the shard and the attempt.
    struct JobKey: Hashable {
        var key: ShardKey
        var attempt: UInt32
        init(_ key: ShardKey, _ attempt: UInt32) {
            self.key = key
            self.attempt = attempt
        }
    }

    struct Worker {
        var id: String
        var hostname: String
        var prefetch: UInt32
        var leases: Set<ShardKey> = []
        var lastHeard: Millis
        var lastSent: Millis
        var imagesDone: UInt64 = 0
        /// The worker said Drain: it gets no new work.
        var draining = false
        /// Its compute thread is in one step past the stall timeout: it gets no new work.
        var stalled = false
        /// It handed a lease back as not taken (prefetch full): no offers until its next
        /// Heartbeat says what it holds.
        var holdingOff = false
        /// From its latest Heartbeat: the shards it holds or computes (never offered to it
        /// again while there), and how long its compute thread has been in one step.
        var reported: Set<ShardKey> = []
        var stepMilliseconds: Millis = 0
        /// Assigns sent to this session (Heartbeat.assigns_received counts them back).
        var assignsSent: UInt64 = 0
    }

    struct Lease {
        var shard: Shard
        var peer: PeerID
        var deadline: Millis
        /// The Assign's number among those sent to this peer's session.
        var sequence: UInt64
        /// Rows the worker reported finished (Progress).
        var rowsDone: UInt32 = 0
    }

    public let settings: Settings
    /// Log lines of the current event, returned before its other actions.
    var logs: [Action] = []
    var workers: [PeerID: Worker] = [:]
    var workerOrder: [PeerID] = []  // round-robin order of assignment
    var nextWorker = 0
    var leases: [ShardKey: Lease] = [:]
    var retry: [Shard] = []  // requeued shards, served before fresh ones
    var fresh: [Shard] = []
    var freshHead = 0
    public private(set) var listExhausted = false
    public private(set) var isFinished = false
    public private(set) var imagesDone: UInt64 = 0
    public private(set) var imagesFailed: UInt64 = 0
    public private(set) var shardsDone: UInt64 = 0
    /// Rows completed by this incarnation (embedded or failed; retried ones included).
    public private(set) var rowsCompleted: UInt64 = 0
    /// Failed rows by category (Protocols/README.md, section 7.4), this run and resumed.
    public private(set) var failuresByCategory: [String: UInt64] = [:]
    public var totalImages: UInt64 = 0
    /// Recent images per second, kept up to date by the loop for StatusReply.
    public var throughput: Double = 0
    /// What happened to leases in this incarnation (StatusReply.leases).
    public private(set) var counters = LeaseCounters()

    public init(settings: Settings) {
        self.settings = settings
    }

    mutating func log(_ level: LogLevel, _ message: String, _ metadata: [String: String] = [:]) {
        logs.append(.log(level, message, metadata))
    }

    /// The event's log lines, then its other actions.
    mutating func flushed(_ actions: [Action]) -> [Action] {
        defer { logs.removeAll() }
        return logs + actions
    }

    // MARK: Feeding

    public var pendingCount: Int { retry.count + fresh.count - freshHead }
    public var leaseCount: Int { leases.count }
    public var workerCount: Int { workers.count }
    /// Rows of the current leases that their workers reported finished (Progress).
    public var imagesInProgress: UInt64 { leases.values.reduce(0) { $0 + UInt64($1.rowsDone) } }
    /// Whether the loop should read more shards from the list.
    public var wantsShards: Bool { !listExhausted && pendingCount < settings.pendingWindow }

    /// Queues a shard read from the list. A shard with nothing to compute (every line
    /// malformed) completes at once: the returned actions commit it.
    @discardableResult
    public mutating func enqueue(_ shard: Shard) -> [Action] {
        precondition(!listExhausted, "enqueue after the list was exhausted")
        guard shard.computable.isEmpty else {
            fresh.append(shard)
            return []
        }
        var actions: [Action] = []
        complete(ShardResult(key: shard.key, dim: settings.model.dim, rows: shard.items.map { Self.listFailure($0) },
                             patches: shard.patches), into: &actions)
        return flushed(actions)
    }

    /// The failed row of an item whose list line did not parse.
    static func listFailure(_ item: ShardItem) -> ShardRow {
        ShardRow(item, .failure(RowFailure(category: RowFailure.Category.malformedLine, reason: item.problem ?? "malformed line")))
    }

    public mutating func markListExhausted() { listExhausted = true }

    /// Counts work that a previous incarnation finished (resume), for progress and status.
    public mutating func countResumed(embedded: Int, failed: Int, byCategory: [String: Int] = [:]) {
        imagesDone += UInt64(embedded)
        imagesFailed += UInt64(failed)
        shardsDone += 1
        for (category, n) in byCategory { failuresByCategory[category, default: 0] += UInt64(n) }
    }

    /// Takes back the count of resumed failed rows that this run computes again (`--retry-failed`).
    public mutating func uncountRetried(_ byCategory: [String: Int]) {
        for (category, n) in byCategory {
            imagesFailed -= UInt64(n)
            failuresByCategory[category, default: 0] -= UInt64(n)
            if failuresByCategory[category] == 0 { failuresByCategory[category] = nil }
        }
    }

    /// The next shard to lease that is not in `excluded` (shards the worker still holds or
    /// computes): requeued ones first, newest first, then fresh ones in list order.
    mutating func popPending(excluding excluded: Set<ShardKey> = []) -> Shard? {
        if let i = retry.lastIndex(where: { !excluded.contains($0.key) }) { return retry.remove(at: i) }
        guard freshHead < fresh.count else { return nil }
        if excluded.contains(fresh[freshHead].key) {
            // Rare (a restarted coordinator offering what a worker computes from before): take
            // the next fresh shard that is not excluded, keeping the order of the others.
            guard let i = fresh[freshHead...].firstIndex(where: { !excluded.contains($0.key) }) else { return nil }
            return fresh.remove(at: i)
        }
        let s = fresh[freshHead]
        freshHead += 1
        if freshHead > 64, freshHead * 2 > fresh.count {
            fresh.removeFirst(freshHead)
            freshHead = 0
        }
        return s
    }

    // MARK: Events

    /// Handles one decoded message from `peer`.
    public mutating func receive(_ envelope: Envelope, from peer: PeerID, now: Millis) -> [Action] {
        var actions: [Action] = []
        if workers[peer] != nil { workers[peer]!.lastHeard = now }
        switch envelope.body {
        case let .hello(hello):
            handleHello(hello, version: envelope.protocolVersion, from: peer, now: now, into: &actions)
        case let .heartbeat(heartbeat):
            guard workers[peer] != nil else {
                reset(peer, "unknown peer (coordinator restarted?); send Hello", into: &actions)
                break
            }
            handleHeartbeat(heartbeat, from: peer, now: now, into: &actions)
        case let .result(result):
            handleResult(result, from: peer, now: now, into: &actions)
        case let .release(release):
            let key = ShardKey(first: release.shardFirst, count: release.shardCount)
            if let lease = leases[key], lease.peer == peer, lease.shard.attempts == release.attempt {
                log(.info, "lease handed back", ["shard": "\(key)", "worker": workers[peer]?.id ?? "?", "reason": release.reason])
                endLease(key)
                counters.released += 1
                switch release.kind {
                case .malformed:
                    // The same Assign would be refused again: count it, so it fails in the end.
                    lose(lease.shard, .refused, into: &actions)
                case .shuttingDown:
                    retry.append(lease.shard)
                case .prefetchFull, .unspecified, .UNRECOGNIZED:
                    if release.kind == .prefetchFull { counters.refusedFull += 1 }
                    // The two sides disagree on what the worker holds: offer it nothing until its
                    // next Heartbeat says (never the same shard at once, again and again).
                    workers[peer]?.holdingOff = true
                    retry.append(lease.shard)
                }
            } else if workers[peer] == nil {
                reset(peer, "unknown peer", into: &actions)
            }
        case let .drain(drain):
            if workers[peer] != nil, !workers[peer]!.draining {
                workers[peer]!.draining = true
                log(.info, "worker draining", ["worker": workers[peer]!.id, "reason": drain.reason])
            } else if workers[peer] == nil {
                reset(peer, "unknown peer", into: &actions)
            }
        case let .progress(p):
            let key = ShardKey(first: p.shardFirst, count: p.shardCount)
            if let lease = leases[key], lease.peer == peer, lease.shard.attempts == p.attempt {
                leases[key]!.rowsDone = min(p.rowsDone, UInt32(lease.shard.items.count))
                leases[key]!.deadline = now + settings.leaseMilliseconds
            }
        case let .bye(bye):
            if let worker = workers[peer] {
                log(.info, "worker left", ["worker": worker.id, "reason": bye.reason])
                removeWorker(peer, lost: false, into: &actions)
            }
        case .statusRequest:
            actions.append(.send(peer, WireCodec.envelope(.statusReply(status(now: now)))))
        case .welcome, .refuse, .assign, .reset, .finished, .statusReply, .revoke, nil:
            log(.warning, "dropped a message a coordinator never accepts", ["kind": envelope.kind])
        }
        assignWork(now: now, into: &actions)
        return flushed(actions)
    }

    /// Advances time: expires leases and silent workers, sends heartbeats, assigns work.
    public mutating func tick(now: Millis) -> [Action] {
        var actions: [Action] = []
        for (peer, worker) in workers where now - worker.lastHeard > settings.heartbeatTimeout {
            log(.warning, "worker vanished (no message within the heartbeat timeout)", [
                "worker": worker.id, "silentMs": "\(now - worker.lastHeard)", "leases": "\(worker.leases.count)",
            ])
            removeWorker(peer, lost: true, into: &actions)
        }
        for (key, lease) in leases.sorted(by: { $0.key < $1.key }) where lease.deadline <= now {
            log(.warning, "lease expired: nothing renewed it", ["shard": "\(key)", "attempt": "\(lease.shard.attempts)",
                                                              "worker": workers[lease.peer]?.id ?? "?", "leaseMs": "\(settings.leaseMilliseconds)"])
            revoke(key, "not renewed for \(settings.leaseMilliseconds) ms", now: now, into: &actions)
            counters.lostExpired += 1
            lose(lease.shard, .expired, into: &actions)
        }
        for (peer, worker) in workers where now - worker.lastSent >= settings.heartbeatInterval {
            send(peer, .heartbeat(Heartbeat()), now: now, into: &actions)
        }
        assignWork(now: now, into: &actions)
        return flushed(actions)
    }

    // MARK: Handlers

    mutating func handleHello(_ hello: Hello, version: UInt32, from peer: PeerID, now: Millis, into actions: inout [Action]) {
        func refuse(_ reason: String) {
            log(.warning, "refused a worker", ["worker": hello.workerID, "host": hello.hostname, "reason": reason])
            actions.append(.send(peer, WireCodec.envelope(.refuse(Refuse.with { $0.reason = reason }))))
        }
        if workers[peer] != nil { removeWorker(peer, lost: false, into: &actions) }
        guard version == WireCodec.protocolVersion else {
            return refuse("protocol version \(version) is not supported; this coordinator speaks \(WireCodec.protocolVersion)")
        }
        if let why = settings.model.mismatch(ModelInfo(wire: hello.model)) { return refuse(why) }
        guard hello.prefetch >= 1 else { return refuse("prefetch must be at least 1") }
        if isFinished {
            actions.append(.send(peer, WireCodec.envelope(.finished(Finished()))))
            return
        }
        let prefetch = min(hello.prefetch, settings.maxPrefetch)
        workers[peer] = Worker(id: hello.workerID, hostname: hello.hostname, prefetch: prefetch, lastHeard: now, lastSent: now)
        workerOrder.append(peer)
        log(.info, "worker joined", ["worker": hello.workerID, "host": hello.hostname, "prefetch": "\(prefetch)"])
        let welcome = Welcome.with {
            $0.runID = settings.runID
            $0.heartbeatIntervalMs = UInt32(settings.heartbeatInterval)
            $0.heartbeatTimeoutMs = UInt32(settings.heartbeatTimeout)
            $0.shipImages = settings.shipImages
            $0.session = hello.session
            $0.stallMs = UInt32(clamping: settings.stallMilliseconds)
        }
        send(peer, .welcome(welcome), now: now, into: &actions)
    }

    mutating func handleResult(_ result: ShardResultMessage, from peer: PeerID, now: Millis, into actions: inout [Action]) {
        let key = ShardKey(first: result.shardFirst, count: result.shardCount)
        guard workers[peer] != nil else {
            log(.info, "dropped a result from an unknown peer", ["shard": "\(key)"])
            return reset(peer, "unknown peer (coordinator restarted?); send Hello", into: &actions)
        }
        workers[peer]!.holdingOff = false
        guard let lease = leases[key], lease.peer == peer, lease.shard.attempts == result.attempt else {
            return acceptLate(result, key: key, from: peer, now: now, into: &actions)
        }
        endLease(key)
        switch Self.rows(of: result, for: lease.shard, dim: settings.model.dim) {
        case let .failure(reason):
            log(.error, "dropped an invalid result; shard requeued", ["shard": "\(key)", "reason": "\(reason)", "worker": workers[peer]!.id])
            lose(lease.shard, .invalidResult, into: &actions)
        case let .success(rows):
            counters.completed += 1
            accept(rows, of: lease.shard, from: peer, into: &actions)
        }
    }

    /// A Result for a lease this peer no longer holds (revoked after a stall or an expiry, or
    /// from before a Reset). Rows are a pure function of the list and the model, so it is as
    /// good as any while the shard is still unfinished: taken if the shard waits in the retry
    /// queue or is leased to someone else (whose lease is then revoked), dropped otherwise.
    mutating func acceptLate(_ result: ShardResultMessage, key: ShardKey, from peer: PeerID, now: Millis, into actions: inout [Action]) {
        let shard: Shard
        var holder: Lease?
        if let i = retry.lastIndex(where: { $0.key == key }) {
            shard = retry[i]
        } else if let other = leases[key] {
            shard = other.shard
            holder = other
        } else {
            log(.info, "dropped a late or duplicate result", ["shard": "\(key)", "attempt": "\(result.attempt)", "worker": workers[peer]!.id])
            return
        }
        guard case let .success(rows) = Self.rows(of: result, for: shard, dim: settings.model.dim) else {
            log(.info, "dropped a late result that does not fit the shard as it is now", ["shard": "\(key)", "worker": workers[peer]!.id])
            return
        }
        if holder != nil {
            revoke(key, "another worker's late Result finished the shard", now: now, into: &actions)
        } else {
            retry.removeAll { $0.key == key }
        }
        log(.info, "accepted a late result", ["shard": "\(key)", "attempt": "\(result.attempt)", "worker": workers[peer]!.id])
        counters.lateResults += 1
        accept(rows, of: shard, from: peer, into: &actions)
    }

    mutating func accept(_ rows: [ShardRow], of shard: Shard, from peer: PeerID, into actions: inout [Action]) {
        var rows = rows
        var nonFinite = 0
        for i in rows.indices {
            guard case let .embedding(v) = rows[i].outcome, !v.allSatisfy(\.isFinite) else { continue }
            nonFinite += 1
            rows[i].outcome = .failure(RowFailure(category: RowFailure.Category.nonFinite,
                                                  reason: "the worker sent a non-finite embedding (NaN or infinity)"))
        }
        if nonFinite > 0 {
            log(.error, "a Result carried non-finite embeddings; those rows fail", ["shard": "\(shard.key)", "rows": "\(nonFinite)",
                                                                                    "worker": workers[peer]?.id ?? "?"])
        }
        complete(ShardResult(key: shard.key, dim: settings.model.dim, rows: rows, patches: shard.patches), into: &actions)
        workers[peer]?.imagesDone += UInt64(rows.count)
    }

    /// A worker's Heartbeat: renews the leases it lists, reconciles both sides' views of what
    /// it holds (README 4.4), and marks it stalled or moving (README 4.5).
    mutating func handleHeartbeat(_ heartbeat: Heartbeat, from peer: PeerID, now: Millis, into actions: inout [Action]) {
        guard var worker = workers[peer] else { return }
        let listed = Set(heartbeat.held.map { JobKey(ShardKey(first: $0.shardFirst, count: $0.shardCount), $0.attempt) })
        // A lease the worker does not list although it had received its Assign: it does not
        // hold it (an Assign lost, or dropped across a reconnection). Requeue it, no loss.
        for key in worker.leases.sorted() {
            guard let lease = leases[key] else { continue }
            if listed.contains(JobKey(key, lease.shard.attempts)) {
                leases[key]!.deadline = now + settings.leaseMilliseconds
            } else if heartbeat.assignsReceived > 0, lease.sequence <= heartbeat.assignsReceived {
                log(.warning, "reconciled a lease the worker does not hold; requeued", ["shard": "\(key)", "worker": worker.id])
                endLease(key)
                counters.reconciled += 1
                retry.append(lease.shard)
            }
        }
        // A lease the worker lists that is not its own here: tell it to drop it.
        for job in listed.sorted(by: { $0.key < $1.key }) where !isLeased(job, to: peer) {
            sendRevoke(job, to: peer, "this coordinator does not count it as yours", now: now, into: &actions)
        }
        worker = workers[peer]!
        worker.holdingOff = false
        worker.stepMilliseconds = Millis(heartbeat.stepMs)
        worker.reported = Set(listed.map(\.key))
        if heartbeat.hasComputing { worker.reported.insert(ShardKey(first: heartbeat.computing.shardFirst, count: heartbeat.computing.shardCount)) }
        let stuck = settings.stallMilliseconds > 0 && worker.stepMilliseconds > settings.stallMilliseconds
        workers[peer] = worker
        if stuck, !worker.stalled {
            workers[peer]!.stalled = true
            log(.warning, "worker stalled: its compute thread is in one step past the stall timeout; its leases go to others", [
                "worker": worker.id, "stepMs": "\(worker.stepMilliseconds)", "stallMs": "\(settings.stallMilliseconds)",
                "leases": "\(worker.leases.count)"])
            for key in worker.leases.sorted() {
                guard let lease = leases[key] else { continue }
                revoke(key, "your compute thread stalled (\(worker.stepMilliseconds) ms in one step)", now: now, into: &actions)
                counters.lostStalled += 1
                lose(lease.shard, .stalled, into: &actions)
            }
        } else if !stuck, worker.stalled {
            workers[peer]!.stalled = false
            log(.info, "stalled worker is moving again", ["worker": worker.id])
        }
    }

    /// Checks a Result against its shard and turns it into rows in index order: every item the
    /// Assign carried appears exactly once; items whose list line did not parse fail here.
    /// - Returns: the rows, or why the Result breaks the protocol.
    static func rows(of result: ShardResultMessage, for shard: Shard, dim: Int) -> Result<[ShardRow], ProtocolViolation> {
        guard Int(result.dim) == dim else { return .failure(ProtocolViolation("dim \(result.dim) != \(dim)")) }
        guard let vectors = result.embeddingRows(dim: dim) else {
            return .failure(ProtocolViolation("\(result.embeddings.count) embedding bytes for \(result.indices.count) rows of dim \(dim)"))
        }
        var position: [UInt64: Int] = [:]
        for (i, item) in shard.items.enumerated() where item.problem == nil { position[item.index] = i }
        var outcome = [ShardRow.Outcome?](repeating: nil, count: shard.items.count)
        for (n, index) in result.indices.enumerated() {
            guard let i = position[index], outcome[i] == nil else {
                return .failure(ProtocolViolation("index \(index) was not assigned or is repeated"))
            }
            outcome[i] = .embedding(vectors[n])
        }
        for failure in result.failures {
            guard let i = position[failure.index], outcome[i] == nil else {
                return .failure(ProtocolViolation("failure index \(failure.index) was not assigned or is repeated"))
            }
            outcome[i] = .failure(RowFailure(
                category: failure.category.isEmpty ? RowFailure.Category.unspecified : failure.category,
                reason: failure.reason.isEmpty ? "failed (no reason given)" : failure.reason))
        }
        var rows: [ShardRow] = []
        rows.reserveCapacity(shard.items.count)
        for (i, item) in shard.items.enumerated() {
            if item.problem != nil { rows.append(listFailure(item)); continue }
            guard let o = outcome[i] else { return .failure(ProtocolViolation("item \(item.index) has no result")) }
            rows.append(ShardRow(item, o))
        }
        return .success(rows)
    }

    // MARK: Bookkeeping

    mutating func complete(_ result: ShardResult, into actions: inout [Action]) {
        let failed = result.failedCount
        imagesDone += UInt64(result.rows.count - failed)
        imagesFailed += UInt64(failed)
        rowsCompleted += UInt64(result.rows.count)
        for (category, n) in result.failuresByCategory { failuresByCategory[category, default: 0] += UInt64(n) }
        if result.patches == nil { shardsDone += 1 }
        actions.append(.commit(result))
    }

    /// A lease was lost (not handed back): count it; split or fail the shard past the limit.
    mutating func lose(_ shard: Shard, _ cause: LossCause, into actions: inout [Action]) {
        var s = shard
        s.lossCauses.append(cause)
        guard s.losses >= settings.maxLosses else { return retry.append(s) }
        let computable = s.computable
        if computable.count > 1 {
            log(.warning, "shard lost too often; trying its images one at a time", ["shard": "\(s.key)", "losses": "\(s.losses)"])
            // Each row becomes a single-row shard; the malformed ones fail at once.
            for item in computable.reversed() {
                var single = Shard(key: ShardKey(first: item.index, count: 1), items: [item], patches: s.patches)
                single.lossCauses = []
                retry.append(single)
            }
            for item in s.items where item.problem != nil {
                complete(ShardResult(key: ShardKey(first: item.index, count: 1), dim: settings.model.dim,
                                     rows: [Self.listFailure(item)], patches: s.patches), into: &actions)
            }
        } else {
            let item = computable.first ?? s.items[0]
            let reason = Self.lossReason(s.lossCauses)
            log(.error, "image failed alone", ["index": "\(item.index)", "path": item.path, "reason": reason])
            let rows = s.items.map { $0.index == item.index
                ? ShardRow(item, .failure(RowFailure(category: RowFailure.Category.lost, reason: reason))) : Self.listFailure($0) }
            complete(ShardResult(key: s.key, dim: settings.model.dim, rows: rows, patches: s.patches), into: &actions)
        }
    }

    /// The recorded reason of an image that failed alone, saying what happened each time.
    static func lossReason(_ causes: [LossCause]) -> String {
        let counts = LossCause.allCases.compactMap { cause -> (LossCause, Int)? in
            let n = causes.filter { $0 == cause }.count
            return n > 0 ? (cause, n) : nil
        }
        let what: [LossCause: String] = [
            .vanished: "its worker died or went silent", .stalled: "its worker stalled on it (one step past --stall-ms)",
            .expired: "nothing renewed its lease within --lease-ms", .refused: "the worker refused its Assign as malformed",
            .invalidResult: "its worker sent a Result that breaks the protocol",
        ]
        if counts.count == 1, let (cause, n) = counts.first {
            let hint = cause == .vanished ? " (poison image?)" : cause == .stalled ? " (stalled storage, or an image that hangs the decoder?)" : ""
            return "lost \(n) times: \(what[cause]!) each time\(hint)"
        }
        return "lost \(causes.count) times: " + counts.map { "\(what[$0.0]!) \($0.1)x" }.joined(separator: ", ")
    }

    /// Tells the holder of `key`'s lease that it no longer holds it, and ends the lease.
    mutating func revoke(_ key: ShardKey, _ reason: String, now: Millis, into actions: inout [Action]) {
        guard let lease = leases[key] else { return }
        endLease(key)
        guard workers[lease.peer] != nil else { return }
        sendRevoke(JobKey(key, lease.shard.attempts), to: lease.peer, reason, now: now, into: &actions)
    }

    func isLeased(_ job: JobKey, to peer: PeerID) -> Bool {
        leases[job.key].map { $0.peer == peer && $0.shard.attempts == job.attempt } ?? false
    }

    mutating func sendRevoke(_ job: JobKey, to peer: PeerID, _ reason: String, now: Millis, into actions: inout [Action]) {
        counters.revoked += 1
        send(peer, .revoke(Revoke.with {
            $0.shardFirst = job.key.first
            $0.shardCount = job.key.count
            $0.attempt = job.attempt
            $0.reason = reason
        }), now: now, into: &actions)
    }

    mutating func endLease(_ key: ShardKey) {
        if let lease = leases.removeValue(forKey: key) { workers[lease.peer]?.leases.remove(key) }
    }

    mutating func removeWorker(_ peer: PeerID, lost: Bool, into actions: inout [Action]) {
        guard let worker = workers.removeValue(forKey: peer) else { return }
        workerOrder.removeAll { $0 == peer }
        for key in worker.leases.sorted(by: >) {
            guard let lease = leases.removeValue(forKey: key) else { continue }
            if lost {
                counters.lostVanished += 1
                lose(lease.shard, .vanished, into: &actions)
            } else {
                retry.append(lease.shard)
            }
        }
    }

    mutating func reset(_ peer: PeerID, _ reason: String, into actions: inout [Action]) {
        actions.append(.send(peer, WireCodec.envelope(.reset(Reset.with { $0.reason = reason }))))
    }

    mutating func send(_ peer: PeerID, _ body: Envelope.OneOf_Body, now: Millis, into actions: inout [Action]) {
        workers[peer]?.lastSent = now
        actions.append(.send(peer, WireCodec.envelope(body)))
    }

    /// Leases pending shards to workers with free credit, round-robin; announces the end.
    mutating func assignWork(now: Millis, into actions: inout [Action]) {
        var progress = true
        while progress, pendingCount > 0, !workerOrder.isEmpty {
            progress = false
            for _ in 0..<workerOrder.count {
                nextWorker = (nextWorker + 1) % workerOrder.count
                let peer = workerOrder[nextWorker]
                guard let worker = workers[peer], !worker.draining, !worker.stalled, !worker.holdingOff,
                      worker.leases.count < Int(worker.prefetch) else { continue }
                guard var shard = popPending(excluding: worker.reported) else { continue }
                shard.attempts += 1
                workers[peer]!.assignsSent += 1
                leases[shard.key] = Lease(shard: shard, peer: peer, deadline: now + settings.leaseMilliseconds,
                                          sequence: workers[peer]!.assignsSent)
                workers[peer]!.leases.insert(shard.key)
                workers[peer]!.lastSent = now
                counters.granted += 1
                actions.append(.assign(peer, shard, leaseMilliseconds: settings.leaseMilliseconds))
                progress = true
            }
        }
        if !isFinished, listExhausted, pendingCount == 0, leases.isEmpty {
            isFinished = true
            for peer in workerOrder { send(peer, .finished(Finished()), now: now, into: &actions) }
            actions.append(.finished)
        }
    }

    // MARK: Status

    public func status(now: Millis) -> StatusReply {
        StatusReply.with {
            $0.runID = settings.runID
            $0.totalImages = totalImages
            $0.imagesDone = imagesDone
            $0.imagesFailed = imagesFailed
            $0.shardsDone = shardsDone
            $0.shardsLeased = UInt64(leases.count)
            $0.shardsPending = UInt64(pendingCount)
            $0.listExhausted = listExhausted
            $0.imagesPerSecond = throughput
            $0.imagesInProgress = imagesInProgress
            $0.failuresByCategory = failuresByCategory
            $0.leases = counters
            $0.insecure = settings.insecure
            $0.leaseMs = UInt64(settings.leaseMilliseconds)
            $0.stallMs = UInt64(settings.stallMilliseconds)
            $0.workers = workerOrder.compactMap { peer in
                guard let w = workers[peer] else { return nil }
                return WorkerStatus.with {
                    $0.workerID = w.id
                    $0.hostname = w.hostname
                    $0.leases = UInt32(w.leases.count)
                    $0.imagesDone = w.imagesDone
                    $0.secondsSinceSeen = UInt32(max(0, now - w.lastHeard) / 1000)
                    $0.draining = w.draining
                    $0.stalled = w.stalled
                    $0.stepMs = UInt32(clamping: w.stepMilliseconds)
                }
            }
        }
    }
}
