import Foundation

/// A real FUSE filesystem whose reads stall, as a hard-mounted NFS server that went away does:
/// Debian's python3-fusepy (`Deploy/install-deps.sh test`) serves `backing` at `mountPoint`,
/// read-only, and a file whose name contains `stall-read` opens but never answers a read, one
/// whose name contains `stall-open` never answers its open. The stuck requests wait in the
/// kernel until `unmount()` kills the server: then the kernel fails them (ENOTCONN) and the
/// threads stuck in them return. Needs root and /dev/fuse; `available` says whether both and
/// fusepy are there.
///
/// Like a real stall, it can keep a process from exiting: the kernel waits out a request the
/// daemon already holds (an open, here) even for a killed process, which stays a zombie whose
/// pipes never close until the daemon answers or dies. So a test waits for the process's work
/// to be done (its output, its store), then unmounts, then waits for its exit.
public final class StallingFilesystem {
    public let backing: String
    public let mountPoint: String
    private let process: Process
    private let output = Locked("")
    private var mounted = true

    public static let available: Bool = {
        guard getuid() == 0, access("/dev/fuse", R_OK | W_OK) == 0, FileManager.default.isExecutableFile(atPath: python) else {
            return false
        }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import fusepy"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }()

    /// Debian's python3, where python3-fusepy installs (`import fusepy`).
    static let python = "/usr/bin/python3"

    /// Mounts a new filesystem over `directory/backing` at `directory/mnt` and returns once the
    /// kernel serves it (the server's `init` printed "ready").
    public convenience init(directory: String, timeout: Double = 30) throws {
        try self.init(backing: directory + "/backing", mountPoint: directory + "/mnt", timeout: timeout)
    }

    /// Mounts `backing` at `mountPoint` (both made when missing); again after an `unmount()`
    /// serves the same files at the same place.
    public init(backing: String, mountPoint: String, timeout: Double = 30) throws {
        self.backing = backing
        self.mountPoint = mountPoint
        for dir in [backing, mountPoint] { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = ["-c", Self.server, backing, mountPoint]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; return }
            output.set(output.get() + String(decoding: data, as: UTF8.self))
        }
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while !log.contains("ready\n") {
            guard process.isRunning, Date() < deadline else {
                unmount()
                throw Failed(message: "the FUSE server did not mount \(mountPoint): \(log)")
            }
            usleep(10_000)
        }
    }

    deinit { unmount() }

    /// What the server printed: "ready", then "stalled read PATH" / "stalled open PATH" for each
    /// request it holds (so a test can tell the kernel really sent it).
    public var log: String { output.get() }

    /// Requests the server holds now.
    public var stalledRequests: Int { log.split(separator: "\n").filter { $0.hasPrefix("stalled ") }.count }

    /// Kills the server (the kernel then fails every request it held) and detaches the mount.
    public func unmount() {
        guard mounted else { return }
        mounted = false
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        umount.arguments = ["-l", mountPoint]
        umount.standardError = FileHandle.nullDevice
        if (try? umount.run()) != nil { umount.waitUntilExit() }
    }

    struct Failed: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The server: a read-only passthrough of argv[1] at argv[2], multithreaded (one stuck
    /// request holds one of libfuse's threads, the others go on).
    static let server = """
        import errno, os, sys, threading
        try:
            import fusepy as fuse  # Debian's python3-fusepy
        except ImportError:
            import fuse  # PyPI's fusepy
        backing, mountpoint = sys.argv[1], sys.argv[2]
        never = threading.Event()

        def stall(op, path):
            print("stalled", op, path, flush=True)
            never.wait()

        class Stalling(fuse.Operations):
            def init(self, path):
                print("ready", flush=True)

            def real(self, path):
                return os.path.join(backing, path.lstrip("/"))

            def getattr(self, path, fh=None):
                try:
                    st = os.lstat(self.real(path))
                except OSError as e:
                    raise fuse.FuseOSError(e.errno)
                keys = ("st_mode", "st_size", "st_nlink", "st_uid", "st_gid", "st_atime", "st_mtime", "st_ctime")
                return {k: getattr(st, k) for k in keys}

            def readdir(self, path, fh):
                return [".", ".."] + os.listdir(self.real(path))

            def open(self, path, flags):
                if "stall-open" in path:
                    stall("open", path)
                return os.open(self.real(path), os.O_RDONLY)

            def read(self, path, size, offset, fh):
                if "stall-read" in path:
                    stall("read", path)
                return os.pread(fh, size, offset)

            def release(self, path, fh):
                os.close(fh)
                return 0

        fuse.FUSE(Stalling(), mountpoint, foreground=True, ro=True, nothreads=False)
        """
}
