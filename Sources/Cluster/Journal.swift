import Foundation

/// The run directory's append-only journal: a header line naming the run, then one line per
/// finished shard, each fsynced before the shard counts as done.
///
///     magfleet-journal 1 {"list":"…","shardSize":256,"model":"…"}
///     done 0 256 255 1
///
/// (`done FIRST COUNT EMBEDDED FAILED`). A last line without its newline is a torn write
/// from a crash and is ignored (that shard is simply done again).
public final class Journal {
    public struct Header: Codable, Equatable, Sendable {
        public var list: String
        public var shardSize: Int
        public var model: String
        public init(list: String, shardSize: Int, model: ModelInfo) {
            self.list = list
            self.shardSize = shardSize
            self.model = model.description
        }
    }

    public struct Entry: Sendable, Equatable {
        public var key: ShardKey
        public var embedded: Int
        public var failed: Int
        public init(key: ShardKey, embedded: Int, failed: Int) {
            self.key = key
            self.embedded = embedded
            self.failed = failed
        }
    }

    public let path: String
    public private(set) var entries: [ShardKey: Entry] = [:]
    private let handle: FileHandle

    /// Opens `directory/journal`, creating it (and the directory) for a new run, or resuming
    /// one whose header equals `header`.
    public init(directory: String, header: Header) throws {
        path = directory + "/journal"
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.journal(path: path, reason: "cannot create the run directory: \(error)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let headerLine = "magfleet-journal 1 " + String(decoding: (try? encoder.encode(header)) ?? Data(), as: UTF8.self)
        if let data = fm.contents(atPath: path), !data.isEmpty {
            let text = String(decoding: data, as: UTF8.self)
            var lines = text.components(separatedBy: "\n")
            if !text.hasSuffix("\n") { lines.removeLast() }  // torn last line
            else { lines.removeLast() }  // the empty string after the final newline
            guard let first = lines.first else {
                throw ClusterError.journal(path: path, reason: "no complete header line; delete the run directory to start over")
            }
            guard first == headerLine else {
                throw ClusterError.journal(path: path, reason: """
                    belongs to another run (\(first)); this run is \(headerLine). \
                    Use a new --run-dir, or the same list, shard size and model.
                    """)
            }
            for line in lines.dropFirst() {
                let f = line.split(separator: " ")
                guard f.count == 5, f[0] == "done", let a = UInt64(f[1]), let c = UInt32(f[2]), let e = Int(f[3]), let x = Int(f[4]) else {
                    throw ClusterError.journal(path: path, reason: "unreadable line: \(line)")
                }
                let key = ShardKey(first: a, count: c)
                entries[key] = Entry(key: key, embedded: e, failed: x)
            }
            guard let h = FileHandle(forWritingAtPath: path) else {
                throw ClusterError.journal(path: path, reason: "cannot open for appending")
            }
            handle = h
            // Cut a torn last line so the next entry starts on a fresh line.
            let keep = lines.reduce(0) { $0 + $1.utf8.count + 1 }
            try handle.truncate(atOffset: UInt64(keep))
            try handle.seekToEnd()
        } else {
            guard fm.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
                throw ClusterError.journal(path: path, reason: "cannot create")
            }
            handle = h
            try append(line: headerLine)
            Journal.fsyncDirectory(directory)
        }
    }

    deinit { try? handle.close() }

    /// Records a finished shard durably (write + fsync).
    public func record(_ key: ShardKey, embedded: Int, failed: Int) throws {
        try record([Entry(key: key, embedded: embedded, failed: failed)])
    }

    /// Records several finished shards with one write and one fsync (group commit).
    public func record(_ batch: [Entry]) throws {
        guard !batch.isEmpty else { return }
        try append(line: batch.map { "done \($0.key.first) \($0.key.count) \($0.embedded) \($0.failed)" }.joined(separator: "\n"))
        for entry in batch { entries[entry.key] = entry }
    }

    private func append(line: String) throws {
        do {
            try handle.write(contentsOf: Data((line + "\n").utf8))
            try handle.synchronize()
        } catch {
            throw ClusterError.journal(path: path, reason: "append failed: \(error)")
        }
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
