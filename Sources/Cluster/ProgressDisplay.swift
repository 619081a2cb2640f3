import Foundation
import Logging
import ClusterCore

/// What a run's progress is, from the coordinator's counts: rows done (finished rows plus the
/// rows of leased shards that workers reported with Progress, so it moves per batch, not per
/// shard), the rate over a sliding window, elapsed time and ETA. Pure: `now` in.
public struct ProgressMeter {
    public struct Reading: Equatable, Sendable {
        public var done: UInt64
        public var total: UInt64
        public var failed: UInt64
        public var workers: Int
        /// Images per second over the window; nil until the window holds two samples 1 s apart.
        public var rate: Double?
        public var elapsedSeconds: Double
        /// Seconds left at `rate`; nil while the rate is unknown or zero.
        public var etaSeconds: Double?

        public var fraction: Double { total > 0 ? min(1, Double(done) / Double(total)) : 0 }
    }

    public let window: Millis
    let started: Millis
    var samples: [(at: Millis, done: UInt64)] = []

    /// - Parameter window: the rate is the rows done over the last `window` (or since the start).
    public init(started: Millis, window: Millis = 20_000) {
        self.started = started
        self.window = window
    }

    public mutating func read(now: Millis, done: UInt64, total: UInt64, failed: UInt64, workers: Int) -> Reading {
        samples.append((now, done))
        if let cut = samples.firstIndex(where: { now - $0.at <= window }), cut > 0 { samples.removeFirst(cut) }
        var rate: Double?
        if let first = samples.first, now - first.at >= 1_000 {
            rate = max(0, Double(Int64(done) - Int64(first.done)) * 1000 / Double(now - first.at))
        }
        let eta = rate.flatMap { r in r > 0 ? Double(total > done ? total - done : 0) / r : nil }
        return Reading(done: done, total: total, failed: failed, workers: workers, rate: rate,
                       elapsedSeconds: Double(now - started) / 1000, etaSeconds: eta)
    }

    /// `h:mm:ss`.
    public static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }

    /// The terminal line: `  42% [=========>          ] 4200/10000 images  25.3 img/s  elapsed 0:02:46  ETA 0:03:49  workers 8  failed 3`.
    public static func line(_ r: Reading, barWidth: Int = 24) -> String {
        let filled = Int((r.fraction * Double(barWidth)).rounded(.down))
        let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" + String(repeating: " ", count: barWidth - filled - 1) : "")
        let rate = r.rate.map { String(format: "%.1f img/s", $0) } ?? "- img/s"
        let eta = r.etaSeconds.map(clock) ?? "-"
        return String(format: "%3.0f%% ", r.fraction * 100) + "[\(bar)] \(r.done)/\(r.total) images  \(rate)  "
            + "elapsed \(clock(r.elapsedSeconds))  ETA \(eta)  workers \(r.workers)  failed \(r.failed)"
    }

    /// The same fields as structured key=values, for a log line.
    public static func fields(_ r: Reading) -> [String: String] {
        [
            "done": "\(r.done)", "total": "\(r.total)", "percent": String(format: "%.1f", r.fraction * 100),
            "rate": r.rate.map { String(format: "%.1f", $0) } ?? "-", "elapsed": clock(r.elapsedSeconds),
            "eta": r.etaSeconds.map(clock) ?? "-", "workers": "\(r.workers)", "failed": "\(r.failed)",
        ]
    }
}

/// Where a run's progress goes.
public enum ProgressMode: Sendable, Equatable {
    case none
    /// A bar redrawn on standard error (a terminal), cleared before each log line.
    case terminal
    /// A `progress` log line every so many milliseconds (standard error is not a terminal:
    /// Slurm, nohup, Kubernetes logs).
    case log(every: Millis)
}

/// Draws the meter's readings: the bar on a terminal (`StatusLine`), or periodic log lines.
struct ProgressDisplay {
    let mode: ProgressMode
    let logger: Logger
    var meter: ProgressMeter
    var lastShown: Millis?
    var lastReading: Millis?
    private(set) var reading: ProgressMeter.Reading?

    init(mode: ProgressMode, started: Millis, logger: Logger) {
        self.mode = mode
        self.logger = logger
        meter = ProgressMeter(started: started)
    }

    /// Takes a reading (at most every 200 ms) and shows it when due. Returns the rate.
    mutating func update(now: Millis, done: UInt64, total: UInt64, failed: UInt64, workers: Int) -> Double {
        if let reading, let lastReading, now - lastReading < 200 { return reading.rate ?? 0 }
        lastReading = now
        let r = meter.read(now: now, done: done, total: total, failed: failed, workers: workers)
        reading = r
        switch mode {
        case .none:
            break
        case .terminal:
            StatusLine.standardError.draw(ProgressMeter.line(r))
        case let .log(every):
            if lastShown.map({ now - $0 >= every }) ?? true {
                lastShown = now
                logger.info("progress", metadata: ProgressMeter.fields(r).mapValues { .string($0) })
            }
        }
        return r.rate ?? 0
    }

    /// Erases the bar (at the end). Log lines need no clearing: they go above it (StatusLine).
    func clear() {
        if case .terminal = mode { StatusLine.standardError.clear() }
    }
}
