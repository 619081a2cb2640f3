import Foundation

/// The files a command writes (`--out`, `--html`, `--weights`...): each is written through
/// here, so that a path that cannot be written is refused with the path and the reason
/// (`cannot write the pairs file /x/p.json: the directory /x does not exist`), and before
/// the work that would produce it rather than after.
enum OutputFile {
    /// Refuses, with the path and the reason, a file that cannot be written: its directory is
    /// missing (unless `createDirectories`), is not a directory or is not writable, or the path
    /// is a directory. With `createDirectories` the missing directories are created.
    ///
    /// - Parameter what: the file's role in the message ("pairs file", "store").
    /// - Throws: `CommandFailure`.
    static func prepare(_ path: String, _ what: String, createDirectories: Bool = false) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CommandFailure("cannot write the \(what) \(path): it is a directory")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if createDirectories {
            try makeDirectory(directory, "directory of the \(what) \(path)")
            return
        }
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw CommandFailure("cannot write the \(what) \(path): the directory \(directory) does not exist (create it, or give another path)")
        }
        guard isDirectory.boolValue else {
            throw CommandFailure("cannot write the \(what) \(path): \(directory) is not a directory")
        }
        guard access(directory, W_OK) == 0 else {
            throw CommandFailure("cannot write the \(what) \(path): \(directory): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `data` to `path` atomically (a temporary file renamed into place), after the
    /// checks of `prepare`.
    ///
    /// - Throws: `CommandFailure` naming the path and the reason.
    static func write(_ data: Data, to path: String, _ what: String) throws {
        try prepare(path, what)
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CommandFailure("cannot write the \(what) \(path): \(reason(error))")
        }
    }

    /// Creates `path` and its missing parents, or says which one is in the way and why.
    static func makeDirectory(_ path: String, _ what: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CommandFailure("cannot create the \(what) \(path): it is a file") }
            guard access(path, W_OK) == 0 else {
                throw CommandFailure("cannot write into the \(what) \(path): \(String(cString: strerror(errno)))")
            }
            return
        }
        // The nearest existing ancestor must be a writable directory.
        var ancestor = URL(fileURLWithPath: path).deletingLastPathComponent()
        while !fm.fileExists(atPath: ancestor.path, isDirectory: &isDirectory), ancestor.path != "/" {
            ancestor = ancestor.deletingLastPathComponent()
        }
        guard isDirectory.boolValue else {
            throw CommandFailure("cannot create the \(what) \(path): \(ancestor.path) is a file, not a directory")
        }
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw CommandFailure("cannot create the \(what) \(path): \(reason(error))")
        }
    }

    /// An error's reason in a person's words: the POSIX reason under a Foundation file error
    /// ("No such file or directory"), not `Error Domain=NSCocoaErrorDomain Code=4 …`.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if ns.domain == NSCocoaErrorDomain { return ns.localizedDescription }
        return "\(error)"
    }
}
