import Foundation

/// The built-in sink: one binary file per shard under `directory`, merged into one
/// `SimpleStore` file. Layout of both (all integers and floats little-endian):
///
///     magic (8 bytes: "MFSHARD1" / "MFSTORE1"), u32 header length, header JSON,
///     then per row: u64 index, u8 ok, u32 path length, path UTF-8,
///                   ok: dim x f32 embedding | failed: u32 reason length, reason UTF-8
public final class BinaryShardSink: ShardSink {
    public let directory: String

    public init(directory: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ClusterError.shardFile(path: directory, reason: "cannot create: \(error)")
        }
        self.directory = directory
    }

    public func path(of key: ShardKey) -> String { "\(directory)/\(key.first)-\(key.count).shard" }

    public func write(_ result: ShardResult) throws { try write(batch: [result]) }

    /// Each file is written and fsynced, then renamed; one directory fsync covers the renames.
    public func write(batch results: [ShardResult]) throws {
        for result in results {
            let header = SimpleStore.Header(model: nil, rows: result.rows.count, dim: result.dim, first: result.key.first)
            let bytes = SimpleStore.encode(magic: "MFSHARD1", header: header, rows: result.rows, dim: result.dim)
            try SimpleStore.writeAtomically(bytes, to: path(of: result.key), syncDirectory: false)
        }
        if !results.isEmpty { Journal.fsyncDirectory(directory) }
    }

    /// Streams the shards into the store one at a time: memory holds one shard, not the list.
    public func merge(_ shards: [ShardKey], model: ModelInfo, into destination: String) throws -> MergeSummary {
        try checkTiling(shards)
        let total = shards.reduce(0) { $0 + Int($1.count) }
        let tmp = destination + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let out = FileHandle(forWritingAtPath: tmp) else {
            throw ClusterError.store(path: tmp, reason: "cannot create")
        }
        defer { try? out.close() }
        let header = SimpleStore.Header(model: SimpleStore.ModelRecord(model), rows: total, dim: model.dim, first: 0)
        var failed = 0
        do {
            try out.write(contentsOf: Data(SimpleStore.encode(magic: "MFSTORE1", header: header, rows: [], dim: model.dim)))
            for key in shards {
                let (shardHeader, rows) = try SimpleStore.read(path: path(of: key), magic: "MFSHARD1")
                guard rows.count == Int(key.count), rows.first?.index == key.first, shardHeader.dim == model.dim else {
                    throw ClusterError.shardFile(path: path(of: key), reason: "does not hold shard \(key) of dim \(model.dim)")
                }
                failed += rows.filter { if case .failure = $0.outcome { return true } else { return false } }.count
                try out.write(contentsOf: Data(SimpleStore.encodeRows(rows, dim: model.dim)))
            }
            try out.synchronize()
        } catch let error as ClusterError {
            throw error
        } catch {
            throw ClusterError.store(path: tmp, reason: "write failed: \(error)")
        }
        guard rename(tmp, destination) == 0 else { throw ClusterError.store(path: destination, reason: "rename failed (errno \(errno))") }
        return MergeSummary(destination: destination, rows: total, embedded: total - failed, failed: failed)
    }
}

/// Reads and writes the SimpleStore format (see BinaryShardSink).
public enum SimpleStore {
    public struct ModelRecord: Codable, Equatable, Sendable {
        public var fingerprint: String, architecture: String, dim: Int, preprocessing: String
        public init(_ m: ModelInfo) {
            fingerprint = m.fingerprint
            architecture = m.architecture
            dim = m.dim
            preprocessing = m.preprocessing
        }
    }

    public struct Header: Codable, Equatable, Sendable {
        public var model: ModelRecord?
        public var rows: Int
        public var dim: Int
        public var first: UInt64
    }

    static func encode(magic: String, header: Header, rows: [ShardRow], dim: Int) -> [UInt8] {
        var out = Array(magic.utf8)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = Array((try? encoder.encode(header)) ?? Data())
        put(&out, UInt32(json.count))
        out += json
        return out + encodeRows(rows, dim: dim)
    }

    static func encodeRows(_ rows: [ShardRow], dim: Int) -> [UInt8] {
        var out: [UInt8] = []
        for row in rows {
            put(&out, row.index)
            let path = Array(row.path.utf8)
            switch row.outcome {
            case let .embedding(v):
                precondition(v.count == dim, "row embedding length \(v.count) != dim \(dim)")
                out.append(1)
                put(&out, UInt32(path.count))
                out += path
                for x in v { put(&out, x.bitPattern) }
            case let .failure(reason):
                out.append(0)
                put(&out, UInt32(path.count))
                out += path
                let r = Array(reason.utf8)
                put(&out, UInt32(r.count))
                out += r
            }
        }
        return out
    }

    /// Reads a store (or shard) file: its header and rows.
    public static func read(path: String, magic: String = "MFSTORE1") throws -> (Header, [ShardRow]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClusterError.store(path: path, reason: "cannot read")
        }
        var r = ByteReader(bytes: Array(data), path: path)
        guard Array(try r.take(8)) == Array(magic.utf8) else { throw ClusterError.store(path: path, reason: "not a \(magic) file") }
        let headerLength = Int(try r.u32())
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(try r.take(headerLength))) else {
            throw ClusterError.store(path: path, reason: "unreadable header")
        }
        var rows: [ShardRow] = []
        rows.reserveCapacity(header.rows)
        for _ in 0..<header.rows {
            let index = try r.u64()
            let ok = try r.take(1).first ?? 0
            let path = String(decoding: try r.take(Int(try r.u32())), as: UTF8.self)
            if ok == 1 {
                var v = [Float](repeating: 0, count: header.dim)
                for j in 0..<header.dim { v[j] = Float(bitPattern: try r.u32()) }
                rows.append(ShardRow(index: index, path: path, outcome: .embedding(v)))
            } else {
                let reason = String(decoding: try r.take(Int(try r.u32())), as: UTF8.self)
                rows.append(ShardRow(index: index, path: path, outcome: .failure(reason)))
            }
        }
        return (header, rows)
    }

    /// Writes `bytes` to a temporary file, fsyncs it, renames it over `path`, fsyncs the directory.
    static func writeAtomically(_ bytes: [UInt8], to path: String, syncDirectory: Bool = true) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ClusterError.shardFile(path: tmp, reason: "cannot create (errno \(errno))") }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(tmp, path) == 0 else { throw ClusterError.shardFile(path: path, reason: "write/fsync/rename failed (errno \(errno))") }
        if syncDirectory { Journal.fsyncDirectory((path as NSString).deletingLastPathComponent) }
    }

    static func put<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }
}

struct ByteReader {
    let bytes: [UInt8]
    let path: String
    var offset = 0
    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, offset + n <= bytes.count else { throw ClusterError.store(path: path, reason: "truncated at byte \(offset)") }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    mutating func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
}
