/// Rate-limits repeated log lines, so that an event that repeats (a refused lease, a dropped
/// message) is logged a few times and then counted, never written a million times.
///
/// Lines are keyed by level, message and the `worker` field (so 64 workers joining are 64
/// lines). Within a window, the first `burst` lines of a key pass; the rest are counted, and
/// once the window ends one summary line carries the count:
/// `lease handed back (repeated 1234 more times in 10 s; the last shown)`. Pure: `now` in.
public struct LogThrottle {
    public struct Line: Equatable, Sendable {
        public var level: LogLevel
        public var message: String
        public var metadata: [String: String]
        public init(_ level: LogLevel, _ message: String, _ metadata: [String: String] = [:]) {
            self.level = level
            self.message = message
            self.metadata = metadata
        }
    }

    struct Key: Hashable {
        var level: LogLevel
        var message: String
        var worker: String
    }

    struct Window {
        var start: Millis
        var passed = 1
        var suppressed = 0
        var last: [String: String] = [:]
    }

    public let burst: Int
    public let window: Millis
    var windows: [Key: Window] = [:]

    public init(burst: Int = 5, window: Millis = 10_000) {
        precondition(burst >= 1 && window > 0, "a throttle passes at least one line per window")
        self.burst = burst
        self.window = window
    }

    /// The lines to write now for `line`: itself, or nothing when it is counted instead, after
    /// the summary of its key's previous window if that one ended with lines counted.
    public mutating func admit(_ line: Line, now: Millis) -> [Line] {
        let key = Key(level: line.level, message: line.message, worker: line.metadata["worker"] ?? "")
        guard var w = windows[key], now - w.start < window else {
            let summary = windows[key].flatMap { Self.summary(key, $0, now: now) }
            windows[key] = Window(start: now)
            return (summary.map { [$0] } ?? []) + [line]
        }
        if w.passed < burst {
            w.passed += 1
            windows[key] = w
            return [line]
        }
        w.suppressed += 1
        w.last = line.metadata
        windows[key] = w
        return []
    }

    /// Summaries of the windows that have ended (call it on every tick); forgets them.
    public mutating func due(now: Millis) -> [Line] {
        var lines: [Line] = []
        for (key, w) in windows where now - w.start >= window {
            if let s = Self.summary(key, w, now: now) { lines.append(s) }
            windows[key] = nil
        }
        return lines.sorted { $0.message < $1.message }
    }

    /// Summaries of every window with lines counted (at exit).
    public mutating func flush(now: Millis) -> [Line] {
        defer { windows.removeAll() }
        return windows.compactMap { Self.summary($0.key, $0.value, now: now) }.sorted { $0.message < $1.message }
    }

    static func summary(_ key: Key, _ w: Window, now: Millis) -> Line? {
        guard w.suppressed > 0 else { return nil }
        let seconds = Double(max(now - w.start, 1)) / 1000
        var metadata = w.last
        metadata["repeated"] = "\(w.suppressed)"
        let span = seconds < 10 ? "\((seconds * 10).rounded() / 10)" : "\(Int(seconds.rounded()))"
        return Line(key.level, "\(key.message) (repeated \(w.suppressed) more times in \(span) s; the last shown)", metadata)
    }
}
