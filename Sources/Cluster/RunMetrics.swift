import CoreMetrics
import ClusterCore
import Wire

/// The coordinator's metrics, through swift-metrics (whatever backend the process bootstrapped:
/// `magfleet coordinator --metrics-bind` bootstraps Prometheus; without it they cost nothing).
/// docs/operations.md, "Metrics", lists every one. The loop calls `update` about once a second
/// with the machine's status; counters advance by what changed since the last call.
public final class RunMetrics {
    /// Every metric's name and help text (the HELP lines of a Prometheus scrape, and the table
    /// in docs/operations.md, "Metrics"). swift-metrics carries no help text, so the endpoint adds it.
    public static let help: KeyValuePairs<String, String> = [
        "magfleet_images": "Rows of the run by state: total, embedded, failed (resumed rows included), in_progress (rows of leased shards reported done).",
        "magfleet_images_completed_total": "Rows this coordinator process completed, by outcome (embedded, failed).",
        "magfleet_failed_images": "Failed rows of the run by failure category.",
        "magfleet_images_per_second": "Recent images per second over the whole cluster (the progress display's rate).",
        "magfleet_shards": "Shards by state: pending (read ahead or requeued), leased, done.",
        "magfleet_workers": "Workers by state: alive (registered), draining, stalled.",
        "magfleet_worker_images_per_second": "Images per second of one worker over the last 20 s.",
        "magfleet_lease_events_total": "Lease events: granted, completed, late_result, released, refused_full, revoked, reconciled.",
        "magfleet_leases_lost_total": "Leases lost, by cause: vanished (worker silent), stalled (compute step past --stall-ms), expired (not renewed).",
        "magfleet_merge_rows": "The final merge: rows written (done) of the store's rows (total).",
        "magfleet_run_finished": "1 once the store is merged, else 0.",
    ]

    /// Rows of the run by state (resumed ones included): total, embedded, failed, in flight.
    private let images: [String: Meter]
    /// This process's completed rows, by outcome (a counter: rate() works on it).
    private let completed: [String: Counter]
    private let failures: MeterFamily
    private let shards: [String: Meter]
    private let workers: [String: Meter]
    private let leaseEvents: [String: Counter]
    private let leasesLost: [String: Counter]
    private let rate: Meter
    private let merge: [String: Meter]
    private let finished: Meter
    private let runID: String
    private var perWorker: [String: (meter: Meter, samples: [(Millis, UInt64)])] = [:]
    private var last = LeaseCounters()
    private var lastDone: (embedded: UInt64, failed: UInt64)?

    init(runID: String) {
        self.runID = runID
        let run = [("run", runID)]
        failures = MeterFamily(label: "magfleet_failed_images", fixed: run, key: "category")
        rate = Meter(label: "magfleet_images_per_second", dimensions: run)
        finished = Meter(label: "magfleet_run_finished", dimensions: run)
        images = Dictionary(uniqueKeysWithValues: ["total", "embedded", "failed", "in_progress"].map {
            ($0, Meter(label: "magfleet_images", dimensions: run + [("state", $0)]))
        })
        completed = Dictionary(uniqueKeysWithValues: ["embedded", "failed"].map {
            ($0, Counter(label: "magfleet_images_completed_total", dimensions: run + [("outcome", $0)]))
        })
        shards = Dictionary(uniqueKeysWithValues: ["pending", "leased", "done"].map {
            ($0, Meter(label: "magfleet_shards", dimensions: run + [("state", $0)]))
        })
        workers = Dictionary(uniqueKeysWithValues: ["alive", "draining", "stalled"].map {
            ($0, Meter(label: "magfleet_workers", dimensions: run + [("state", $0)]))
        })
        leaseEvents = Dictionary(uniqueKeysWithValues: ["granted", "completed", "late_result", "released", "refused_full",
                                                         "revoked", "reconciled"].map {
            ($0, Counter(label: "magfleet_lease_events_total", dimensions: run + [("event", $0)]))
        })
        leasesLost = Dictionary(uniqueKeysWithValues: ["vanished", "stalled", "expired"].map {
            ($0, Counter(label: "magfleet_leases_lost_total", dimensions: run + [("cause", $0)]))
        })
        merge = Dictionary(uniqueKeysWithValues: ["done", "total"].map {
            ($0, Meter(label: "magfleet_merge_rows", dimensions: run + [("state", $0)]))
        })
        finished.set(0)
    }

    func update(_ s: StatusReply, now: Millis, resumed: (embedded: UInt64, failed: UInt64)) {
        images["total"]!.set(s.totalImages)
        images["embedded"]!.set(s.imagesDone)
        images["failed"]!.set(s.imagesFailed)
        images["in_progress"]!.set(s.imagesInProgress)
        let done = (embedded: s.imagesDone - min(s.imagesDone, resumed.embedded), failed: s.imagesFailed - min(s.imagesFailed, resumed.failed))
        let before = lastDone ?? (0, 0)
        if done.embedded > before.embedded { completed["embedded"]!.increment(by: done.embedded - before.embedded) }
        if done.failed > before.failed { completed["failed"]!.increment(by: done.failed - before.failed) }
        lastDone = done
        for (category, n) in s.failuresByCategory { failures[category].set(n) }
        shards["pending"]!.set(s.shardsPending)
        shards["leased"]!.set(s.shardsLeased)
        shards["done"]!.set(s.shardsDone)
        workers["alive"]!.set(s.workers.count)
        workers["draining"]!.set(s.workers.filter(\.draining).count)
        workers["stalled"]!.set(s.workers.filter(\.stalled).count)
        rate.set(s.imagesPerSecond)
        let l = s.leases
        func advance(_ counter: Counter?, _ now: UInt64, _ then: UInt64) { if now > then { counter?.increment(by: now - then) } }
        advance(leaseEvents["granted"], l.granted, last.granted)
        advance(leaseEvents["completed"], l.completed, last.completed)
        advance(leaseEvents["late_result"], l.lateResults, last.lateResults)
        advance(leaseEvents["released"], l.released, last.released)
        advance(leaseEvents["refused_full"], l.refusedFull, last.refusedFull)
        advance(leaseEvents["revoked"], l.revoked, last.revoked)
        advance(leaseEvents["reconciled"], l.reconciled, last.reconciled)
        advance(leasesLost["vanished"], l.lostVanished, last.lostVanished)
        advance(leasesLost["stalled"], l.lostStalled, last.lostStalled)
        advance(leasesLost["expired"], l.lostExpired, last.lostExpired)
        last = l
        updateWorkers(s.workers, now: now)
    }

    /// Each worker's images/s over the last 20 s, as a gauge labelled with its id and host;
    /// a worker's gauge goes when it leaves.
    private func updateWorkers(_ list: [WorkerStatus], now: Millis) {
        var seen = Set<String>()
        for w in list {
            seen.insert(w.workerID)
            var entry = perWorker[w.workerID] ?? (Meter(label: "magfleet_worker_images_per_second",
                                                        dimensions: [("run", runID), ("worker", w.workerID), ("host", w.hostname)]), [])
            entry.samples.append((now, w.imagesDone))
            entry.samples.removeAll { now - $0.0 > 20_000 }
            if let first = entry.samples.first, now - first.0 >= 1_000 {
                entry.meter.set(Double(w.imagesDone - min(w.imagesDone, first.1)) * 1000 / Double(now - first.0))
            }
            perWorker[w.workerID] = entry
        }
        for (id, entry) in perWorker where !seen.contains(id) {
            entry.meter.destroy()
            perWorker[id] = nil
        }
    }

    /// Rows merged into the store so far.
    func merged(_ rows: Int, of total: Int) {
        merge["done"]!.set(rows)
        merge["total"]!.set(total)
    }

    func markFinished() { finished.set(1) }
}

/// Gauges of one name told apart by one label, made as values appear.
final class MeterFamily {
    let label: String
    let fixed: [(String, String)]
    let key: String
    private var meters: [String: Meter] = [:]
    init(label: String, fixed: [(String, String)], key: String) {
        self.label = label
        self.fixed = fixed
        self.key = key
    }
    subscript(_ value: String) -> Meter {
        if let m = meters[value] { return m }
        let m = Meter(label: label, dimensions: fixed + [(key, value)])
        meters[value] = m
        return m
    }
}
