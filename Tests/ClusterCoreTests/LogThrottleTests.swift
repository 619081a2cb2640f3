import Testing
@testable import ClusterCore

/// Repeated log lines are rate-limited with a count; distinct workers' lines are not merged.
struct LogThrottleTests {
    @Test func aStormBecomesAFewLinesAndACount() {
        var t = LogThrottle(burst: 3, window: 1_000)
        var written: [LogThrottle.Line] = []
        for i in 0..<10_000 {
            written += t.admit(.init(.info, "lease handed back", ["worker": "w1", "shard": "\(i)"]), now: Millis(i / 20))
        }
        written += t.flush(now: 600)
        // 10,000 events over 500 ms: 3 lines, then one summary carrying the rest.
        #expect(written.count == 4)
        #expect(written.last?.metadata["repeated"] == "9997")
        #expect(written.last?.message.hasPrefix("lease handed back (repeated 9997 more times") == true)
        #expect(written.last?.metadata["shard"] == "9999")
    }

    @Test func eachWorkerAndEachWindowHasItsOwnBudget() {
        var t = LogThrottle(burst: 1, window: 1_000)
        #expect(t.admit(.init(.info, "worker joined", ["worker": "a"]), now: 0).count == 1)
        #expect(t.admit(.init(.info, "worker joined", ["worker": "b"]), now: 0).count == 1)
        #expect(t.admit(.init(.info, "worker joined", ["worker": "a"]), now: 1).isEmpty)
        #expect(t.due(now: 999).isEmpty)
        let due = t.due(now: 1_000)
        #expect(due.map(\.metadata["repeated"]) == ["1"])
        // The window ended: the next line passes again.
        #expect(t.admit(.init(.info, "worker joined", ["worker": "a"]), now: 1_001).count == 1)
    }
}
