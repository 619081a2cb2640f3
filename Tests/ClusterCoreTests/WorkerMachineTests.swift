import Foundation
import Testing
import Wire
@testable import ClusterCore

/// The worker state machine with injected time.
struct WorkerMachineTests {
    static func machine() -> WorkerMachine {
        var s = WorkerMachine.Settings(workerID: "w", model: ModelInfo(fingerprint: "sha256:f00d", architecture: "iresnet18", dim: 4, preprocessing: "magface"))
        s.prefetch = 2
        s.heartbeatInterval = 100
        s.heartbeatTimeout = 500
        s.backoffInitial = 100
        s.backoffMax = 400
        s.drainTimeout = 1_000
        return WorkerMachine(settings: s)
    }

    /// The actions but log lines (the tests check behaviour, not log text).
    static func kinds(_ actions: [WorkerMachine.Action]) -> [String] {
        actions.compactMap {
            switch $0 {
            case .log: return nil
            case .connect: return "connect"
            case let .send(e): return e.kind
            case .compute: return "compute"
            case .cancelQueued: return "cancel"
            case let .cancel(key): return "cancel \(key)"
            case let .exit(code, _): return "exit\(code)"
            }
        }
    }

    static let welcome = WireCodec.envelope(.welcome(Welcome.with { $0.heartbeatIntervalMs = 100; $0.heartbeatTimeoutMs = 500 }))

    static func assign(_ first: UInt64, attempt: UInt32 = 1) -> Envelope {
        WireCodec.envelope(.assign(Assign.with {
            $0.shardFirst = first; $0.shardCount = 1; $0.attempt = attempt
            $0.items = [Item.with { $0.index = first; $0.path = "p" }]
        }))
    }

    static func result(_ first: UInt64, attempt: UInt32 = 1) -> ShardResultMessage {
        ShardResultMessage.with { $0.shardFirst = first; $0.shardCount = 1; $0.attempt = attempt; $0.dim = 4 }
    }

    @Test func greetsComputesAndReturnsResults() {
        var m = Self.machine()
        #expect(Self.kinds(m.start(now: 0)) == ["connect", "Hello"])
        #expect(Self.kinds(m.receive(Self.welcome, now: 10)).isEmpty)
        #expect(m.phase == .working)
        #expect(Self.kinds(m.receive(Self.assign(0), now: 20)) == ["compute"])
        #expect(Self.kinds(m.receive(Self.assign(1), now: 20)) == ["compute"])
        #expect(Self.kinds(m.receive(Self.assign(2), now: 20)) == ["Release"])  // beyond prefetch 2
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 30)) == ["Result"])
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 31)).isEmpty)  // no longer held
    }

    @Test func reconnectsWithGrowingBackoffWhenTheCoordinatorFallsSilent() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(0), now: 0)
        #expect(Self.kinds(m.tick(now: 100)) == ["Heartbeat"])
        #expect(Self.kinds(m.tick(now: 501)) == ["cancel"])  // silent 501 > 500: drop leases
        #expect(m.held.isEmpty)
        #expect(m.phase == .disconnected(retryAt: 601))
        #expect(Self.kinds(m.tick(now: 601)) == ["connect", "Hello"])
        _ = m.tick(now: 1_102)  // no Welcome within the timeout: backoff doubles
        #expect(m.phase == .disconnected(retryAt: 1_302))
        // The late result of the dropped lease is not sent.
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 1_200)).isEmpty)
    }

    @Test func sigtermFinishesTheCurrentShardAndHandsBackTheRest() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(0), now: 0)
        _ = m.receive(Self.assign(1), now: 0)
        #expect(Self.kinds(m.terminate(now: 10)) == ["Drain", "cancel"])  // no new work, short of Bye
        #expect(Self.kinds(m.cancelled([ShardKey(first: 1, count: 1)], now: 10)) == ["Release"])
        #expect(Self.kinds(m.receive(Self.assign(2), now: 11)) == ["Release"])
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 20)) == ["Result", "Bye", "exit0"])
    }

    @Test func sigtermHandsBackAStuckShardAfterTheDrainTimeout() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(0), now: 0)
        _ = m.terminate(now: 0)
        _ = m.receive(WireCodec.envelope(.heartbeat(Heartbeat())), now: 900)
        #expect(Self.kinds(m.tick(now: 1_000)) == ["Release", "Bye", "exit0"])
    }

    @Test func refusalExitsNonZeroAndResetGreetsAgain() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(0), now: 0)
        #expect(Self.kinds(m.receive(WireCodec.envelope(.reset(Reset())), now: 5)) == ["cancel", "Hello"])
        #expect(m.held.isEmpty)
        // More Resets while greeting answer messages sent before that Hello: no Hello storm.
        for t in 6..<10 { #expect(Self.kinds(m.receive(WireCodec.envelope(.reset(Reset())), now: Millis(t))).isEmpty) }
        #expect(m.phase == .greeting(since: 5))
        #expect(Self.kinds(m.receive(WireCodec.envelope(.refuse(Refuse.with { $0.reason = "dim" })), now: 6)) == ["exit2"])
    }

    static func revoke(_ first: UInt64, attempt: UInt32 = 1) -> Envelope {
        WireCodec.envelope(.revoke(Revoke.with { $0.shardFirst = first; $0.shardCount = 1; $0.attempt = attempt; $0.reason = "stalled" }))
    }

    static func heartbeat(_ actions: [WorkerMachine.Action]) -> Heartbeat? {
        actions.lazy.compactMap { if case let .send(e) = $0, case let .heartbeat(h) = e.body { return h } else { return nil } }.first
    }

    /// Heartbeats say what the worker holds, how many Assigns it has had, and what its compute
    /// thread is on (README 4.4): the coordinator reconciles its view with them.
    @Test func heartbeatsListTheHeldLeasesAndTheComputeStep() throws {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(3), now: 0)
        _ = m.receive(Self.assign(1, attempt: 2), now: 0)
        m.compute = ComputeState(lease: LeaseRef(first: 3, count: 1, attempt: 1), stepMilliseconds: 250)
        let h = try #require(Self.heartbeat(m.tick(now: 100)))
        #expect(h.held.map { [$0.shardFirst, UInt64($0.attempt)] } == [[1, 2], [3, 1]])
        #expect(h.assignsReceived == 2 && h.stepMs == 250 && h.computing.shardFirst == 3)
    }

    /// A revoked lease stops counting against the prefetch (no refusal of the next Assign); if
    /// it is still queued the loop cancels it, and if it is running its Result still goes out
    /// (the coordinator takes it if nobody finished the shard since).
    @Test func aRevokedLeaseIsDroppedButARunningOnesResultStillGoes() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(Self.welcome, now: 0)
        _ = m.receive(Self.assign(0), now: 0)
        _ = m.receive(Self.assign(1), now: 0)
        #expect(Self.kinds(m.receive(Self.revoke(0), now: 10)) == ["cancel 0+1"])
        #expect(Self.kinds(m.receive(Self.revoke(7), now: 10)).isEmpty)  // not held: nothing to do
        #expect(Self.kinds(m.receive(Self.assign(2), now: 11)) == ["compute"])  // room again
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 20)) == ["Result"])
        #expect(Self.kinds(m.computed(Self.result(0), session: m.session, now: 21)).isEmpty)
    }

    /// A Welcome that answers an earlier Hello of this process is ignored, and so is the
    /// Result of a lease from an earlier session: both sides count only the current session.
    @Test func anEarlierSessionsWelcomeAndResultsAreIgnored() {
        var m = Self.machine()
        _ = m.start(now: 0)
        _ = m.receive(WireCodec.envelope(.welcome(Welcome.with { $0.session = 1 })), now: 1)
        _ = m.receive(Self.assign(0), now: 2)
        let oldSession = m.session
        _ = m.receive(WireCodec.envelope(.reset(Reset())), now: 3)  // greets again: session 2
        #expect(m.session == oldSession + 1)
        _ = m.receive(WireCodec.envelope(.welcome(Welcome.with { $0.session = oldSession })), now: 4)
        #expect(m.phase == .greeting(since: 3))
        #expect(Self.kinds(m.receive(Self.assign(5), now: 5)).isEmpty)  // not welcomed yet: not taken
        _ = m.receive(WireCodec.envelope(.welcome(Welcome.with { $0.session = m.session })), now: 6)
        #expect(m.phase == .working)
        #expect(Self.kinds(m.computed(Self.result(0), session: oldSession, now: 7)).isEmpty)
    }
}
