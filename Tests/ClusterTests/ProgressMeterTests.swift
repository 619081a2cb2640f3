import Testing
import ClusterCore
@testable import Cluster

/// The progress display's arithmetic: rate over a sliding window, ETA, the bar and the fields.
struct ProgressMeterTests {
    @Test func theRateIsOverTheWindowAndTheEtaFollowsIt() throws {
        var m = ProgressMeter(started: 0, window: 10_000)
        #expect(m.read(now: 0, done: 0, total: 1_000, failed: 0, workers: 2).rate == nil)  // one sample
        #expect(m.read(now: 500, done: 5, total: 1_000, failed: 0, workers: 2).rate == nil)  // under 1 s apart
        // 10 images/s for 10 s, then 50 images/s: after 10 s more the window holds only the new rate.
        var done: UInt64 = 5
        for t in stride(from: 1_000, through: 10_000, by: 1_000) {
            done += 10
            _ = m.read(now: Millis(t), done: done, total: 1_000, failed: 0, workers: 2)
        }
        for t in stride(from: 11_000, through: 20_000, by: 1_000) {
            done += 50
            _ = m.read(now: Millis(t), done: done, total: 1_000, failed: 0, workers: 2)
        }
        let r = m.read(now: 20_000, done: done, total: 1_000, failed: 3, workers: 2)
        #expect(r.rate == 50)
        #expect(r.etaSeconds == Double(1_000 - done) / 50)
        #expect(r.elapsedSeconds == 20)
        #expect(r.done == 605 && r.failed == 3)
    }

    @Test func noProgressMeansNoEta() {
        var m = ProgressMeter(started: 0)
        _ = m.read(now: 0, done: 10, total: 100, failed: 0, workers: 1)
        let r = m.read(now: 5_000, done: 10, total: 100, failed: 0, workers: 1)
        #expect(r.rate == 0 && r.etaSeconds == nil)
        // Lost leases can take rows back: the rate never goes negative.
        #expect(m.read(now: 6_000, done: 4, total: 100, failed: 0, workers: 1).rate == 0)
    }

    @Test func theLineAndTheFields() {
        let r = ProgressMeter.Reading(done: 4_200, total: 10_000, failed: 3, workers: 8, rate: 25.3, elapsedSeconds: 166,
                                      etaSeconds: 229.2)
        #expect(ProgressMeter.line(r, barWidth: 10) == " 42% [====>     ] 4200/10000 images  25.3 img/s  elapsed 0:02:46  ETA 0:03:49  workers 8  failed 3")
        #expect(ProgressMeter.fields(r) == ["done": "4200", "total": "10000", "percent": "42.0", "rate": "25.3",
                                            "elapsed": "0:02:46", "eta": "0:03:49", "workers": "8", "failed": "3"])
        #expect(ProgressMeter.clock(3 * 3600 + 62.9) == "3:01:02")
        let start = ProgressMeter.Reading(done: 0, total: 10, failed: 0, workers: 0, rate: nil, elapsedSeconds: 0, etaSeconds: nil)
        #expect(ProgressMeter.line(start, barWidth: 4) == "  0% [>   ] 0/10 images  - img/s  elapsed 0:00:00  ETA -  workers 0  failed 0")
        let end = ProgressMeter.Reading(done: 10, total: 10, failed: 0, workers: 1, rate: 5, elapsedSeconds: 2, etaSeconds: 0)
        #expect(ProgressMeter.line(end, barWidth: 4).hasPrefix("100% [====] 10/10"))
    }
}
