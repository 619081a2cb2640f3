import Foundation

/// A small tmpfs a test mounts on a fresh temporary directory, to fill a file system on
/// purpose (`mount -t tmpfs -o size=…`; root only). `resize` frees space (a remount with a
/// larger size keeps the files); `unmount()` (call it in a defer) unmounts it and removes the
/// directory. Tests that need one are enabled `if: ScratchMount.isAvailable`.
public final class ScratchMount {
    public let path: String
    private var mounted = false

    /// Whether this process may mount a tmpfs (root, and mount works here: not in every container).
    public static let isAvailable: Bool = {
        guard getuid() == 0, let probe = try? ScratchMount(size: "64k") else { return false }
        probe.unmount()
        return true
    }()

    /// Mounts a tmpfs of `size` (mount's syntax: "256k", "4m").
    public init(size: String) throws {
        path = NSTemporaryDirectory() + "magfleet-tmpfs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do { try Self.tool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path]) } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        mounted = true
    }

    /// Grows (or shrinks) the file system to `size`, keeping its files.
    public func resize(_ size: String) throws {
        try Self.tool("/bin/mount", ["-o", "remount,size=\(size)", path])
    }

    public func unmount() {
        if mounted {
            // Lazy when busy: a process the test started may still hold a file for a moment.
            if (try? Self.tool("/bin/umount", [path])) == nil { try? Self.tool("/bin/umount", ["-l", path]) }
            mounted = false
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { unmount() }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs mount or umount, waiting at most 30 s.
    static func tool(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + 30) == .timedOut {
            process.terminate()
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) ran past 30 s")
        }
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")): \(text)")
        }
    }
}
