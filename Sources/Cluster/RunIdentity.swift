import Foundation
import Imaging

/// Whether a run directory's journal may be resumed with the inputs given now
/// (docs/lists.md, "Run identity"). A run is its inputs: the list's content, the model
/// (fingerprint, architecture, dim, preset, flip) and the shard size. `--root` is where the
/// files are, not what they are: it may change, and then failed rows are retried.
public enum RunIdentity {
    public struct Resume: Equatable, Sendable {
        /// The list only grew: its first `rows` rows are the recorded run's.
        public var grownFrom: Int?
        /// The images are looked for under another root than last time.
        public var rootChanged: Bool
    }

    /// - Parameters:
    ///   - labelNames: the current list's label names, to check that growth renumbers no identity.
    ///   - listPath: the current list file, to check that the recorded list is a prefix of it.
    ///   - journalPath: the run directory, for the message.
    /// - Throws: `ClusterError.differentRun` naming the first field that differs, both values,
    ///   and what to do.
    public static func resume(_ recorded: Journal.Header, as current: Journal.Header, labelNames: [String],
                              listPath: String, journalPath: String) throws -> Resume {
        func refuse(_ what: String, _ then: String, _ now: String) -> ClusterError {
            .differentRun(path: journalPath, reason: """
                \(what) is \(then) in this run directory but \(now) now. \
                To start over with the new inputs, add --restart; to keep the old run, use a new --run-dir.
                """)
        }
        let a = recorded.model, b = current.model
        if a.fingerprint != b.fingerprint { throw refuse("the model fingerprint", a.fingerprint, b.fingerprint) }
        if a.architecture != b.architecture { throw refuse("the architecture", a.architecture, b.architecture) }
        if a.dim != b.dim { throw refuse("the embedding dim", "\(a.dim)", "\(b.dim)") }
        if a.preprocessing != b.preprocessing { throw refuse("the preprocessing preset", a.preprocessing, b.preprocessing) }
        if a.flip != b.flip { throw refuse("flip fusion", a.flip ? "on" : "off", b.flip ? "on" : "off") }
        if recorded.shardSize != current.shardSize {
            throw refuse("the shard size", "\(recorded.shardSize)", "\(current.shardSize)")
        }
        var resume = Resume(grownFrom: nil, rootChanged: (recorded.root ?? "") != (current.root ?? ""))
        let old = recorded.list, new = current.list
        guard old.sha256 != new.sha256 else {
            // The same bytes read under another label rule (--labels-from-dirs given once, not
            // the other time) number other identities: the shards' labels would disagree.
            if old.labels != new.labels || old.labelsSHA256 != new.labelsSHA256 {
                throw refuse("the label table", "\(old.labels) identities (names SHA-256 \(old.labelsSHA256.prefix(16))…)",
                             "\(new.labels) identities (names SHA-256 \(new.labelsSHA256.prefix(16))…) from the same list (was --labels-from-dirs given one time and not the other?)")
            }
            return resume
        }
        let describe = { (l: Journal.Header.List) in "SHA-256 \(l.sha256.prefix(16))… (\(l.rows) rows, \(l.bytes) bytes)" }
        guard new.bytes > old.bytes, let prefix = ListSummary.prefixDigest(path: listPath, length: old.bytes),
              prefix.sha256 == old.sha256, prefix.atLineEnd else {
            throw refuse("the image list's content", describe(old), describe(new) + " (it was edited, not only appended to)")
        }
        guard labelNames.count >= old.labels,
              ListSummary.digest(labelNames: labelNames.prefix(old.labels)) == old.labelsSHA256 else {
            throw refuse("the label table", "\(old.labels) identities",
                         "\(labelNames.count) identities numbered differently (the appended lines renumber existing labels)")
        }
        resume.grownFrom = old.rows
        return resume
    }
}

/// One coordinator per run directory: an exclusive `flock` on `RUNDIR/lock`, held for the
/// process's life (the kernel releases it when the process dies, kill -9 included). The file
/// names the holder, so a second coordinator can say who has it.
public final class RunLock {
    public let path: String
    private let fd: Int32

    public init(directory: String) throws {
        path = directory + "/lock"
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.journal(path: path, reason: "cannot create the run directory: \(error)")
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ClusterError.journal(path: path, reason: "cannot open the lock: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw ClusterError.locked(path: directory, holder: holder.flatMap { $0.isEmpty ? nil : $0 } ?? "holder unknown")
        }
        let host = ProcessInfo.processInfo.hostName
        let note = "pid \(getpid()) on host \(host), since \(StoreTime.now())\n"
        _ = ftruncate(fd, 0)
        _ = note.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }
}

enum StoreTime {
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }
}
