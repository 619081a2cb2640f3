import Foundation
import Testing
import Wire
@testable import ClusterCore

/// The coordinator state machine with injected time: no sockets, no sleeps.
struct CoordinatorMachineTests {
    static let model = ModelInfo(fingerprint: "sha256:f00d", architecture: "iresnet18", dim: 4, preprocessing: "magface")

    static func machine(maxLosses: UInt32 = 3, items: Int = 8, shardSize: Int = 4) -> CoordinatorMachine {
        var settings = CoordinatorMachine.Settings(model: model, runID: "t")
        settings.leaseMilliseconds = 1_000
        settings.heartbeatInterval = 100
        settings.heartbeatTimeout = 500
        settings.maxLosses = maxLosses
        var m = CoordinatorMachine(settings: settings)
        var start = 0
        while start < items {
            let n = min(shardSize, items - start)
            m.enqueue(Shard(items: (start..<(start + n)).map { ShardItem(index: UInt64($0), path: "p\($0)") }))
            start += n
        }
        m.markListExhausted()
        return m
    }

    static func hello(prefetch: UInt32 = 1, model: ModelInfo = model) -> Envelope {
        WireCodec.envelope(.hello(Hello.with {
            $0.workerID = "w"
            $0.model = model.wire
            $0.prefetch = prefetch
        }))
    }

    static func assigns(_ actions: [CoordinatorMachine.Action]) -> [(CoordinatorMachine.PeerID, Shard)] {
        actions.compactMap { if case let .assign(p, s, _) = $0 { return (p, s) } else { return nil } }
    }

    static func commits(_ actions: [CoordinatorMachine.Action]) -> [ShardResult] {
        actions.compactMap { if case let .commit(r) = $0 { return r } else { return nil } }
    }

    static func sent(_ actions: [CoordinatorMachine.Action]) -> [Envelope] {
        actions.compactMap { if case let .send(_, e) = $0 { return e } else { return nil } }
    }

    /// A complete, valid result for `shard` (embedding values are the index + j, never zero).
    static func result(for shard: Shard, attempt: UInt32? = nil, dim: UInt32 = 4, failIndex: UInt64? = nil) -> Envelope {
        var r = ShardResultMessage()
        r.shardFirst = shard.key.first
        r.shardCount = shard.key.count
        r.attempt = attempt ?? shard.attempts
        r.dim = dim
        var values: [Float] = []
        for item in shard.items {
            if item.index == failIndex {
                r.failures.append(Failure.with { $0.index = item.index; $0.reason = "broken"; $0.category = "corrupt" })
                continue
            }
            r.indices.append(item.index)
            values += (0..<Int(dim)).map { Float(item.index) + Float($0) + 0.5 }
        }
        r.setEmbeddings(values)  // Wire's one codec
        return WireCodec.envelope(.result(r))
    }

    @Test func welcomesAMatchingWorkerAndLeasesUpToItsPrefetch() throws {
        var m = Self.machine()
        let actions = m.receive(Self.hello(prefetch: 1), from: [1], now: 0)
        #expect(Self.sent(actions).first?.kind == "Welcome")
        #expect(Self.assigns(actions).count == 1)  // credit 1: one shard, the other waits
        #expect(Self.assigns(m.tick(now: 10)).isEmpty)
        #expect(m.pendingCount == 1)
    }

    @Test func refusesAMismatchedModelAndSaysWhy() throws {
        var m = Self.machine()
        var other = Self.model
        other.dim = 16
        let actions = m.receive(Self.hello(model: other), from: [1], now: 0)
        let refuse = try #require(Self.sent(actions).first)
        guard case let .refuse(r) = refuse.body else { Issue.record("expected Refuse, got \(refuse.kind)"); return }
        #expect(r.reason.contains("dim 16 != 4"))
        #expect(Self.assigns(actions).isEmpty)
        #expect(m.workerCount == 0)
    }

    @Test func refusesAnotherProtocolVersion() throws {
        var m = Self.machine()
        var hello = Self.hello()
        hello.protocolVersion = 1
        guard case let .refuse(r) = Self.sent(m.receive(hello, from: [1], now: 0)).first?.body else { Issue.record("no Refuse"); return }
        #expect(r.reason.contains("version 1 is not supported; this coordinator speaks 2"))
    }

    @Test func acceptsAResultOnceAndDropsTheDuplicate() throws {
        var m = Self.machine()
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        let reply = Self.result(for: shard, failIndex: shard.key.first + 1)
        let first = m.receive(reply, from: peer, now: 5)
        let commit = try #require(Self.commits(first).first)
        #expect(commit.rows.map(\.index) == Array(shard.key.indices))
        #expect(commit.rows[1].outcome == .failure(RowFailure(category: "corrupt", reason: "broken")))
        #expect(commit.rows[0].outcome == .embedding([0.5, 1.5, 2.5, 3.5]))
        #expect(Self.commits(m.receive(reply, from: peer, now: 6)).isEmpty)
        #expect(m.shardsDone == 1)
    }

    /// A lease nothing renews (its worker lists it in no Heartbeat) expires: revoked and
    /// reassigned. Rows are a pure function of the image, so the first Result wins: the
    /// late one from the first holder finishes the shard, and the second holder is revoked.
    @Test func expiredLeaseIsReassignedAndTheFirstResultWins() throws {
        var m = Self.machine(items: 4)
        let (a, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        _ = m.receive(Self.hello(), from: [2], now: 0)
        // Both workers alive, but their Heartbeats list nothing: only the lease runs out.
        _ = m.receive(WireCodec.envelope(.heartbeat(Heartbeat())), from: [1], now: 900)
        _ = m.receive(WireCodec.envelope(.heartbeat(Heartbeat())), from: [2], now: 900)
        let expiry = m.tick(now: 1_001)
        #expect(Self.revokes(expiry).map(\.0) == [a])
        let (b, again) = try #require(Self.assigns(expiry).first)
        #expect(again.key == shard.key && again.attempts == 2 && again.lossCauses == [.expired])
        let late = m.receive(Self.result(for: shard, attempt: 1), from: a, now: 1_002)
        #expect(Self.commits(late).count == 1)
        #expect(Self.revokes(late).map(\.0) == [b])
        #expect(Self.commits(m.receive(Self.result(for: again), from: b, now: 1_003)).isEmpty)
        #expect(m.isFinished)
        #expect(m.counters.lateResults == 1 && m.counters.lostExpired == 1)
    }

    static func revokes(_ actions: [CoordinatorMachine.Action]) -> [(CoordinatorMachine.PeerID, Revoke)] {
        actions.compactMap { if case let .send(p, e) = $0, case let .revoke(r) = e.body { return (p, r) } else { return nil } }
    }

    static func heartbeat(held: [Shard] = [], assignsReceived: UInt64 = 0, stepMs: UInt32 = 0, computing: Shard? = nil) -> Envelope {
        WireCodec.envelope(.heartbeat(Heartbeat.with {
            $0.held = held.map { LeaseRef(first: $0.key.first, count: $0.key.count, attempt: $0.attempts) }
            $0.assignsReceived = assignsReceived
            $0.stepMs = stepMs
            if let computing { $0.computing = LeaseRef(first: computing.key.first, count: computing.key.count, attempt: computing.attempts) }
        }))
    }

    /// A live worker that lists its lease in its Heartbeats keeps it, however long the shard
    /// takes (a slow, healthy image is not a lost lease).
    @Test func aLiveWorkerKeepsItsLeaseHoweverLongTheShardTakes() throws {
        var m = Self.machine(items: 4)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        var now: Millis = 0
        for _ in 0..<50 {  // 20 lease times, one step all along
            now += 100
            _ = m.receive(Self.heartbeat(held: [shard], assignsReceived: 1, stepMs: UInt32(now), computing: shard), from: peer, now: now)
            now += 300
            #expect(Self.revokes(m.tick(now: now)).isEmpty)
        }
        #expect(m.leaseCount == 1 && m.counters.lostExpired == 0)
        #expect(Self.commits(m.receive(Self.result(for: shard), from: peer, now: now)).count == 1)
    }

    /// A worker whose compute thread sits in one step past the stall timeout loses its leases
    /// (revoked, a stall counted) and gets no work until the thread moves; then it gets work,
    /// but never the shard it is still computing.
    @Test func aStalledWorkerLosesItsLeasesAndGetsNoWorkUntilItMoves() throws {
        var settings = Self.machine().settings
        settings.stallMilliseconds = 2_000
        var m = CoordinatorMachine(settings: settings)
        m.enqueue(Shard(items: (0..<4).map { ShardItem(index: UInt64($0), path: "p\($0)") }))
        m.enqueue(Shard(items: (4..<8).map { ShardItem(index: UInt64($0), path: "p\($0)") }))
        m.markListExhausted()
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        let stalled = m.receive(Self.heartbeat(held: [shard], assignsReceived: 1, stepMs: 2_001, computing: shard), from: peer, now: 2_001)
        #expect(Self.revokes(stalled).map(\.1.shardFirst) == [shard.key.first])
        #expect(Self.assigns(stalled).isEmpty)
        #expect(m.status(now: 2_001).workers.first?.stalled == true)
        #expect(m.counters.lostStalled == 1)
        // Still in the same step, holding nothing now: still no work.
        #expect(Self.assigns(m.receive(Self.heartbeat(stepMs: 2_100, computing: shard), from: peer, now: 2_100)).isEmpty)
        // The thread moved on (a new step), still on the revoked shard: the other shard, not that one.
        let moving = m.receive(Self.heartbeat(stepMs: 10, computing: shard), from: peer, now: 2_200)
        #expect(Self.assigns(moving).map(\.1.key) == [ShardKey(first: 4, count: 4)])
        // A second worker takes the revoked shard; the stalled loss is on its record.
        let (_, again) = try #require(Self.assigns(m.receive(Self.hello(), from: [2], now: 2_300)).first)
        #expect(again.key == shard.key && again.lossCauses == [.stalled])
    }

    /// A Release saying the worker is full never starts a ping-pong: the worker gets no offer
    /// until its next Heartbeat says what it holds.
    @Test func aRefusalAsFullHoldsOffOffersUntilTheNextHeartbeat() throws {
        var m = Self.machine(items: 8)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        let full = WireCodec.envelope(.release(Release.with {
            $0.shardFirst = shard.key.first; $0.shardCount = shard.key.count; $0.attempt = shard.attempts; $0.kind = .prefetchFull
        }))
        #expect(Self.assigns(m.receive(full, from: peer, now: 1)).isEmpty)
        #expect(Self.assigns(m.tick(now: 2)).isEmpty)
        #expect(m.counters.refusedFull == 1)
        let offered = m.receive(Self.heartbeat(assignsReceived: 1), from: peer, now: 50)
        #expect(Self.assigns(offered).count == 1)
    }

    /// The two sides' views of what a worker holds reconcile through its Heartbeats: a lease
    /// it does not list although it had the Assign is requeued (no loss); one it lists that is
    /// not its own here is revoked.
    @Test func heartbeatsReconcileWhatTheWorkerHolds() throws {
        var m = Self.machine(items: 8)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        // The Assign is still on its way: a Heartbeat that has not seen it changes nothing.
        _ = m.receive(Self.heartbeat(assignsReceived: 0), from: peer, now: 10)
        #expect(m.leaseCount == 1)
        let stranger = Shard(key: ShardKey(first: 100, count: 4), items: [ShardItem(index: 100, path: "x")])
        let actions = m.receive(Self.heartbeat(held: [stranger], assignsReceived: 1), from: peer, now: 20)
        #expect(m.counters.reconciled == 1)
        #expect(Self.revokes(actions).map(\.1.shardFirst) == [100])
        let (_, again) = try #require(Self.assigns(actions).first)
        #expect(again.key == shard.key && again.losses == 0)
    }

    /// A Release of a malformed Assign counts as a loss, so the same refusal cannot repeat forever.
    @Test func aMalformedRefusalIsALoss() throws {
        var m = Self.machine(maxLosses: 2, items: 1, shardSize: 1)
        var committed: [ShardResult] = []
        var actions = m.receive(Self.hello(), from: [1], now: 0)
        for t in 1...10 where !m.isFinished {
            let (peer, shard) = try #require(Self.assigns(actions).first)
            actions = m.receive(WireCodec.envelope(.release(Release.with {
                $0.shardFirst = shard.key.first; $0.shardCount = shard.key.count; $0.attempt = shard.attempts; $0.kind = .malformed
            })), from: peer, now: Millis(t))
            committed += Self.commits(actions)
        }
        #expect(m.isFinished && m.counters.granted == 2)
        #expect(committed.first?.rows.first?.failure?.reason.contains("refused its Assign as malformed") == true)
    }

    /// A row with a NaN or infinite value is never stored as an embedding: it fails, with the reason.
    @Test func nonFiniteEmbeddingsFailTheirRows() throws {
        var m = Self.machine(items: 4)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        var reply = Self.result(for: shard)
        guard case var .result(r) = reply.body else { return }
        var values = r.embeddingRows(dim: 4)!.flatMap { $0 }
        values[5] = .nan
        values[12] = -.infinity
        r.setEmbeddings(values)
        reply.body = .result(r)
        let commit = try #require(Self.commits(m.receive(reply, from: peer, now: 1)).first)
        #expect(commit.rows.map { $0.failure?.category } == [nil, RowFailure.Category.nonFinite, nil, RowFailure.Category.nonFinite])
        #expect(m.failuresByCategory == [RowFailure.Category.nonFinite: 2])
    }

    @Test func theLossReasonSaysWhatHappened() {
        #expect(CoordinatorMachine.lossReason([.vanished, .vanished, .vanished]).contains("died or went silent each time (poison image?)"))
        #expect(CoordinatorMachine.lossReason([.stalled, .stalled]).contains("stalled on it"))
        let mixed = CoordinatorMachine.lossReason([.vanished, .stalled, .stalled])
        #expect(mixed.contains("lost 3 times") && mixed.contains("went silent 1x") && mixed.contains("stalled on it (one step past --stall-ms) 2x"))
    }

    @Test func vanishedWorkerShardGoesToAnotherWorker() throws {
        var m = Self.machine(items: 4)
        _ = m.receive(Self.hello(), from: [1], now: 0)
        _ = m.receive(Self.hello(), from: [2], now: 0)
        _ = m.receive(WireCodec.envelope(.heartbeat(Heartbeat())), from: [2], now: 400)
        let actions = m.tick(now: 600)  // worker 1 silent for 600 > 500 ms
        #expect(m.workerCount == 1)
        let (peer, shard) = try #require(Self.assigns(actions).first)
        #expect(peer == [2])
        #expect(shard.losses == 1)
    }

    @Test func aPoisonImageIsIsolatedAndFailsAlone() throws {
        var m = Self.machine(maxLosses: 2, items: 3, shardSize: 3)
        var now: Millis = 0
        var peer: UInt8 = 0
        var committed: [ShardResult] = []
        // Each worker dies holding its lease; a shard holding index 1 always dies.
        for _ in 0..<40 where !m.isFinished {
            peer += 1
            let actions = m.receive(Self.hello(), from: [peer], now: now)
            guard let (_, shard) = Self.assigns(actions).first else { break }
            if shard.key.indices.contains(1) {
                now += 600
                committed += Self.commits(m.tick(now: now))
            } else {
                committed += Self.commits(m.receive(Self.result(for: shard), from: [peer], now: now))
                _ = m.receive(WireCodec.envelope(.bye(Bye())), from: [peer], now: now)
            }
        }
        #expect(m.isFinished)
        let rows = committed.flatMap(\.rows).sorted { $0.index < $1.index }
        #expect(rows.map(\.index) == [0, 1, 2])
        guard case let .failure(failure) = rows[1].outcome else { Issue.record("index 1 should fail"); return }
        #expect(failure.reason.contains("lost 2 times") && failure.category == RowFailure.Category.lost)
        #expect(rows[0].outcome != rows[1].outcome && rows[2].outcome != rows[1].outcome)
    }

    static func release(_ shard: Shard, attempt: UInt32? = nil) -> Envelope {
        WireCodec.envelope(.release(Release.with {
            $0.shardFirst = shard.key.first; $0.shardCount = shard.key.count; $0.attempt = attempt ?? shard.attempts
        }))
    }

    @Test func byeRequeuesWithoutCountingALoss() throws {
        var m = Self.machine(items: 4)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        _ = m.receive(WireCodec.envelope(.bye(Bye())), from: [9], now: 0)  // unknown peer's Bye: ignored
        _ = m.receive(WireCodec.envelope(.bye(Bye())), from: peer, now: 1)
        #expect(m.pendingCount == 1)
        _ = m.receive(Self.release(shard), from: peer, now: 2)  // after Bye: nothing held any more
        #expect(m.pendingCount == 1)
        let (_, again) = try #require(Self.assigns(m.receive(Self.hello(), from: [2], now: 3)).first)
        #expect(again.losses == 0)
    }

    /// A Release from the lease's holder requeues the shard, no loss, and frees its credit; a
    /// Release of another attempt or from another peer changes nothing.
    @Test func releaseRequeuesWithoutCountingALoss() throws {
        var m = Self.machine(items: 4)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        #expect(Self.assigns(m.receive(Self.release(shard, attempt: shard.attempts + 1), from: peer, now: 1)).isEmpty)
        #expect(m.leaseCount == 1)
        _ = m.receive(Self.hello(), from: [2], now: 2)  // a second worker, whose credit the lease is not
        let stolen = m.receive(Self.release(shard), from: [2], now: 3)
        #expect(Self.assigns(stolen).isEmpty && m.leaseCount == 1)
        // The holder's Release: requeued and, its credit free again, assigned anew (attempt 2, no loss).
        let actions = m.receive(Self.release(shard), from: peer, now: 4)
        let again = try #require(Self.assigns(actions).first)
        #expect(again.1.key == shard.key && again.1.attempts == 2 && again.1.losses == 0)
        #expect(m.leaseCount == 1)
    }

    /// A draining worker gets no new work; the others do.
    @Test func aDrainingWorkerGetsNoNewWork() throws {
        var m = Self.machine(items: 12)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        _ = m.receive(WireCodec.envelope(.drain(Drain.with { $0.reason = "SIGTERM" })), from: peer, now: 1)
        let done = m.receive(Self.result(for: shard), from: peer, now: 2)
        #expect(Self.commits(done).count == 1 && Self.assigns(done).isEmpty)  // its credit is free, but it drains
        #expect(m.status(now: 2).workers.first?.draining == true)
        let other = m.receive(Self.hello(), from: [2], now: 3)
        #expect(Self.assigns(other).map(\.0) == [[2]])
    }

    @Test func invalidResultIsDroppedAndTheShardRequeued() throws {
        var m = Self.machine(items: 4)
        let (peer, shard) = try #require(Self.assigns(m.receive(Self.hello(), from: [1], now: 0)).first)
        let bad = Self.result(for: shard, dim: 3)
        let actions = m.receive(bad, from: peer, now: 1)
        #expect(Self.commits(actions).isEmpty)
        let (_, again) = try #require(Self.assigns(actions).first)  // back to the same worker, new attempt
        #expect(again.attempts == 2)
    }

    @Test func unknownPeerGetsResetAndStatusNeedsNoHello() throws {
        var m = Self.machine()
        let reset = Self.sent(m.receive(WireCodec.envelope(.heartbeat(Heartbeat())), from: [7], now: 0))
        #expect(reset.first?.kind == "Reset")
        let status = Self.sent(m.receive(WireCodec.envelope(.statusRequest(StatusRequest())), from: [8], now: 0))
        guard case let .statusReply(s) = status.first?.body else { Issue.record("no StatusReply"); return }
        #expect(s.shardsPending == 2)
        #expect(m.workerCount == 0)
    }

    @Test func heartbeatsGoOutOnTheInterval() {
        var m = Self.machine()
        _ = m.receive(Self.hello(prefetch: 2), from: [1], now: 0)
        #expect(Self.sent(m.tick(now: 50)).isEmpty)
        #expect(Self.sent(m.tick(now: 100)).map(\.kind) == ["Heartbeat"])
    }

    @Test func readAheadIsBounded() {
        var settings = CoordinatorMachine.Settings(model: Self.model, runID: "t")
        settings.pendingWindow = 3
        var m = CoordinatorMachine(settings: settings)
        var fed = 0
        while m.wantsShards {
            m.enqueue(Shard(items: [ShardItem(index: UInt64(fed), path: "x")]))
            fed += 1
        }
        #expect(fed == 3)
    }
}

