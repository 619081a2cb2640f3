import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `magfleet` binary (next to the test bundle in .build/<config>/) with a time
/// bound, and collects its output.
public enum MagfleetProcess {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public struct TimedOut: Error, CustomStringConvertible {
        var arguments: [String]
        var seconds: Double
        public var description: String { "magfleet \(arguments.joined(separator: " ")) ran past \(seconds) s" }
    }

    /// The directory holding the built products.
    public static var productsDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            url = bundle.bundleURL
            return url.deletingLastPathComponent()
        }
        // swift-testing on Linux runs inside the *.xctest executable itself.
        while url.pathComponents.count > 1, !FileManager.default.fileExists(atPath: url.appendingPathComponent("magfleet").path) {
            url = url.deletingLastPathComponent()
        }
        return url
    }

    public static var executable: URL { productsDirectory.appendingPathComponent("magfleet") }

    /// Runs magfleet with `arguments`, killing it after `timeout` seconds; with
    /// `descriptorLimit`, under that `ulimit -n` (set by a shell that then execs magfleet).
    public static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 120,
                           descriptorLimit: Int? = nil) throws -> Result {
        let process = Process()
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        let outData = Locked(Data()), errData = Locked(Data())
        let group = DispatchGroup()
        for (pipe, sink) in [(outPipe, outData), (errPipe, errData)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                sink.set(data)
                group.leave()
            }
        }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            // Killed, and waited for a while only: a process with a thread stuck in the kernel
            // (a stalled storage read) cannot exit, and the test must still end.
            kill(process.processIdentifier, SIGKILL)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { usleep(10_000) }
            throw TimedOut(arguments: arguments, seconds: timeout)
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData.get(), as: UTF8.self),
            stderr: String(decoding: errData.get(), as: UTF8.self))
    }
}

/// A value shared between the reader threads and the test; guarded by a lock.
public final class Locked<Value>: @unchecked Sendable {  // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    public func get() -> Value { lock.withLock { value } }
    public func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
