import Foundation

/// The one line at the bottom of a terminal that a progress bar redraws, shared by everything
/// that writes to standard error: a log line or a child process's output is written above it
/// (the bar is cleared, the text written, the bar drawn again), so nothing lands on the bar.
public final class StatusLine: @unchecked Sendable {  // @unchecked: `current` is guarded by `lock`.
    /// Standard error's.
    public static let standardError = StatusLine(fd: STDERR_FILENO)

    private let lock = NSLock()
    private let fd: Int32
    private var current: String?

    init(fd: Int32) { self.fd = fd }

    /// Draws `line` in place of the current one.
    public func draw(_ line: String) {
        lock.withLock {
            current = line
            put("\r\u{1B}[2K" + line)
        }
    }

    /// Erases the line, if one is drawn.
    public func clear() {
        lock.withLock {
            guard current != nil else { return }
            current = nil
            put("\r\u{1B}[2K")
        }
    }

    /// Writes `text` (whole lines) above the line, which stays drawn.
    public func printAbove(_ text: String) {
        lock.withLock {
            guard let current else { return put(text) }
            put("\r\u{1B}[2K" + text + current)
        }
    }

    private func put(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// A log stream that writes through `StatusLine.standardError`.
public struct StatusLineStream: TextOutputStream, Sendable {
    public init() {}
    public mutating func write(_ string: String) { StatusLine.standardError.printAbove(string) }
}
