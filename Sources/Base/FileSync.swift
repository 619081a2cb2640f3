#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed, with errno's text: what the modules' own errors wrap.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var path: String
    public var code: Int32
    public init(_ call: String, path: String, code: Int32 = errno) {
        self.call = call
        self.path = path
        self.code = code
    }
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// The one fsync of the package (the store's files and the run directory's journal): every
/// error is reported, since a full or failing disk must never pass silently.
public enum FileSync {
    /// fsyncs an open file descriptor.
    public static func sync(_ fd: Int32, path: String) throws(SystemCallError) {
        guard fsync(fd) == 0 else { throw SystemCallError("fsync", path: path) }
    }

    /// Opens the file (or directory, to make a rename in it durable) at `path` and fsyncs it.
    public static func sync(path: String, directory: Bool) throws(SystemCallError) {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDWR)
        guard fd >= 0 else { throw SystemCallError("open for fsync", path: path) }
        defer { close(fd) }
        try sync(fd, path: path)
    }
}
