import Base
import Foundation
import ClusterCore

/// The run directory's append-only journal: a header line naming the run by its inputs, then
/// one line per finished shard, each fsynced before the shard counts as done, each written at
/// the end of the file (O_APPEND).
///
///     magfleet-journal 2 {"list":{…},"model":{…},"shardSize":256,"listPath":"…","root":"…"}
///     done 0 256 250 6 missing-file=5,malformed-line=1
///
/// (`done FIRST COUNT EMBEDDED FAILED [CATEGORY=N,…]`; a later line for the same shard, from a
/// retry, replaces the earlier one). A last line without its newline is a torn write from a
/// crash and is ignored (that shard is simply done again). docs/lists.md, "Run identity".
public final class Journal {
    /// What a run is: its inputs (`RunIdentity` compares them on resume), plus where they were.
    public struct Header: Codable, Equatable, Sendable {
        public struct List: Codable, Equatable, Sendable {
            /// SHA-256 of the list file's bytes.
            public var sha256: String
            public var bytes: Int
            public var rows: Int
            public var labels: Int
            /// SHA-256 of the label names, one per line (`ListSummary.digest`).
            public var labelsSHA256: String
            public init(sha256: String, bytes: Int, rows: Int, labels: Int, labelsSHA256: String) {
                self.sha256 = sha256
                self.bytes = bytes
                self.rows = rows
                self.labels = labels
                self.labelsSHA256 = labelsSHA256
            }
        }
        public struct Model: Codable, Equatable, Sendable {
            public var fingerprint: String
            public var architecture: String
            public var dim: Int
            public var preprocessing: String
            public var flip: Bool
            public init(_ m: ModelInfo) {
                fingerprint = m.fingerprint
                architecture = m.architecture
                dim = m.dim
                preprocessing = m.preprocessing
                flip = m.flip
            }
        }
        public var list: List
        public var model: Model
        public var shardSize: Int
        /// Where the list was read from: informational, not identity.
        public var listPath: String
        /// Where the images were found (`--root`): informational; a change retries failed rows.
        public var root: String?

        public init(list: List, model: ModelInfo, shardSize: Int, listPath: String, root: String?) {
            self.list = list
            self.model = Model(model)
            self.shardSize = shardSize
            self.listPath = listPath
            self.root = root
        }
    }

    public static let version = 2
    public let path: String
    /// The header the journal had when opened (nil for a new run).
    public let recorded: Header?
    public private(set) var header: Header
    public private(set) var entries: [ShardKey: ShardTally] = [:]
    private var handle: FileHandle

    /// Opens `directory/journal`: creates it for a new run, or reads a previous run's header
    /// and entries (the caller decides with `RunIdentity` whether it may resume, then calls
    /// `adopt(_:)`). Creates the directory.
    public init(directory: String, header: Header) throws {
        path = directory + "/journal"
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.journal(path: path, reason: "cannot create the run directory: \(error)")
        }
        self.header = header
        if let data = fm.contents(atPath: path), !data.isEmpty {
            let contents = try Self.parse(data, path: path)
            recorded = contents.header
            entries = contents.entries
            handle = try Self.openForAppending(path)
            // Cut a torn last line so the next entry starts on a fresh line.
            let keep = contents.completeBytes
            do {
                try handle.truncate(atOffset: UInt64(keep))
            } catch {
                throw ClusterError.journal(path: path, reason: "cannot cut a torn last line: \(error)")
            }
        } else {
            recorded = nil
            guard fm.createFile(atPath: path, contents: nil) else { throw ClusterError.journal(path: path, reason: "cannot create") }
            handle = try Self.openForAppending(path)
            try append(line: Self.headerLine(header))
            try Durable.fsyncDirectory(directory)
        }
    }

    deinit { try? handle.close() }

    /// A journal as read, without opening it for writing (`magfleet merge --run-dir`).
    public struct Contents: Sendable {
        public var header: Header
        /// The finished shards, a later line for a shard replacing an earlier one.
        public var entries: [ShardKey: ShardTally]
        /// Bytes up to the end of the last complete line.
        var completeBytes: Int
    }

    /// Reads `directory/journal`.
    /// - Throws: `ClusterError.journal` when it is missing or unreadable, `.differentRun` for
    ///   another journal version.
    public static func read(directory: String) throws -> Contents {
        let path = directory + "/journal"
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            throw ClusterError.journal(path: path, reason: "no journal here: is \(directory) a run directory (--run-dir)?")
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws -> Contents {
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.components(separatedBy: "\n")
        lines.removeLast()  // the empty string after the final newline, or a torn last line
        guard let first = lines.first else {
            throw ClusterError.journal(path: path, reason: "no complete header line; run with --restart to start over")
        }
        var entries: [ShardKey: ShardTally] = [:]
        for line in lines.dropFirst() {
            let tally = try parseEntry(line, path: path)
            entries[tally.key] = tally
        }
        return Contents(header: try parseHeader(first, path: path), entries: entries,
                        completeBytes: lines.reduce(0) { $0 + $1.utf8.count + 1 })
    }

    /// Every write goes to the file's end at the time of the write (O_APPEND), never to an offset
    /// this process remembered: nothing a record lands on can be another writer's record.
    static func openForAppending(_ path: String) throws -> FileHandle {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else {
            throw ClusterError.journal(path: path, reason: "cannot open for appending: \(String(cString: strerror(errno)))")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Continues a previous run under `header` (the same inputs, or a list that only grew, or
    /// another root): rewrites the journal atomically with the new header and every entry.
    public func adopt(_ header: Header) throws {
        guard header != recorded else { return }
        self.header = header
        try rewrite()
    }

    /// Takes finished shards out of the journal (their files are missing or damaged: they are to
    /// be computed again): rewrites it atomically with the other entries.
    public func forget(_ keys: some Collection<ShardKey>) throws {
        guard keys.contains(where: { entries[$0] != nil }) else { return }
        for key in keys { entries[key] = nil }
        try rewrite()
    }

    /// Writes the header and every entry to `journal.tmp`, fsyncs it, renames it over the journal.
    private func rewrite() throws {
        let lines = [Self.headerLine(header)] + entries.keys.sorted().map { Self.entryLine(entries[$0]!) }
        let temporary = path + ".tmp"
        do {
            try Durable.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: temporary)
            guard rename(temporary, path) == 0 else { throw ClusterError.journal(path: path, reason: "rename: \(String(cString: strerror(errno)))") }
            try Durable.fsyncDirectory((path as NSString).deletingLastPathComponent)
            try handle.close()
            handle = try Self.openForAppending(path)
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.journal(path: path, reason: "rewrite failed: \(error)")
        }
    }

    /// Records finished shards with one write and one fsync (group commit).
    public func record(_ batch: [ShardTally]) throws {
        guard !batch.isEmpty else { return }
        try append(line: batch.map(Self.entryLine).joined(separator: "\n"))
        for tally in batch { entries[tally.key] = tally }
    }

    private func append(line: String) throws {
        do {
            try handle.write(contentsOf: Data((line + "\n").utf8))
            try Durable.fsync(handle.fileDescriptor, path: path)
        } catch {
            throw ClusterError.journal(path: path, reason: "append failed: \(error)")
        }
    }

    static func headerLine(_ header: Header) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let json = try? encoder.encode(header) else { preconditionFailure("a journal header always encodes") }
        return "magfleet-journal \(version) " + String(decoding: json, as: UTF8.self)
    }

    static func parseHeader(_ line: String, path: String) throws -> Header {
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "magfleet-journal" else {
            throw ClusterError.journal(path: path, reason: "not a magfleet journal; use another --run-dir")
        }
        guard parts[1] == "\(version)" else {
            throw ClusterError.differentRun(path: path, reason: """
                the journal format version is \(parts[1]) in this run directory but \(version) now (another magfleet \
                version wrote it). To start over, add --restart; to keep the old run, use a new --run-dir.
                """)
        }
        do { return try JSONDecoder().decode(Header.self, from: Data(parts[2].utf8)) } catch let error as DecodingError {
            throw ClusterError.journal(path: path, reason: "unreadable header: \(Self.field(error)); run with --restart to start over")
        } catch {
            throw ClusterError.journal(path: path, reason: "unreadable header: \(error); run with --restart to start over")
        }
    }

    /// A header decoding error as the field it is about (`list.labelsSHA256 is missing`),
    /// not the decoder's dump of its coding path.
    static func field(_ error: DecodingError) -> String {
        func name(_ path: [CodingKey], _ key: CodingKey? = nil) -> String {
            let keys = (path + (key.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the header" : "field `\(keys.joined(separator: "."))`"
        }
        switch error {
        case let .keyNotFound(key, context): return "\(name(context.codingPath, key)) is missing"
        case let .typeMismatch(type, context): return "\(name(context.codingPath)) is not a \(type)"
        case let .valueNotFound(type, context): return "\(name(context.codingPath)) is null, expected a \(type)"
        case let .dataCorrupted(context): return "\(name(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    static func entryLine(_ t: ShardTally) -> String {
        let categories = t.failuresByCategory.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        return "done \(t.key.first) \(t.key.count) \(t.embedded) \(t.failed)" + (categories.isEmpty ? "" : " " + categories)
    }

    static func parseEntry(_ line: String, path: String) throws -> ShardTally {
        let f = line.split(separator: " ")
        guard f.count == 5 || f.count == 6, f[0] == "done", let a = UInt64(f[1]), let c = UInt32(f[2]),
              let e = Int(f[3]), let x = Int(f[4]) else {
            throw ClusterError.journal(path: path, reason: "unreadable line: \(line)")
        }
        var categories: [String: Int] = [:]
        if f.count == 6 {
            for pair in f[5].split(separator: ",") {
                let kv = pair.split(separator: "=")
                guard kv.count == 2, let n = Int(kv[1]) else { throw ClusterError.journal(path: path, reason: "unreadable line: \(line)") }
                categories[String(kv[0])] = n
            }
        }
        return ShardTally(key: ShardKey(first: a, count: c), embedded: e, failed: x, failuresByCategory: categories)
    }
}

/// The journal's durable writes, on Base's one fsync (errors reported as ClusterError.journal).
enum Durable {
    static func fsync(_ fd: Int32, path: String) throws {
        do { try FileSync.sync(fd, path: path) } catch { throw ClusterError.journal(path: path, reason: "\(error)") }
    }

    static func fsyncDirectory(_ path: String) throws {
        do { try FileSync.sync(path: path, directory: true) } catch { throw ClusterError.journal(path: path, reason: "\(error)") }
    }

    /// Writes `data` to a new file at `path` and fsyncs it.
    static func write(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ClusterError.journal(path: path, reason: "create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw ClusterError.journal(path: path, reason: "write: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        try fsync(fd, path: path)
    }
}
