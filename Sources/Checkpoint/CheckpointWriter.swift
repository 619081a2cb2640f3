import Foundation

/// Writes a float32 state dict as a PyTorch zip checkpoint (`torch.save`'s format since 1.6)
/// that `torch.load(path, weights_only=True)` reads: `{"state_dict": {...}, "magfleet": {...}}`.
/// Used for random-weight models (`magfleet model random`); entries are stored, 64-byte aligned.
public enum CheckpointWriter {
    /// One tensor to write: its key, its shape, and its values in row-major order.
    public struct Entry {
        public var key: String
        public var shape: [Int]
        public var values: [Float]
        public init(key: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(key): shape \(shape) does not match \(values.count) values")
            self.key = key
            self.shape = shape
            self.values = values
        }
    }

    /// Writes `entries` under `state_dict` and `metadata` (string/int/bool values) under `magfleet`.
    ///
    /// - Throws: `CheckpointError.io` when the file cannot be written.
    public static func write(_ entries: [Entry], metadata: [(String, MetadataValue)], to url: URL) throws {
        let pickle = makePickle(entries, metadata: metadata)
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
              let handle = FileHandle(forWritingAtPath: url.path)
        else { throw CheckpointError.io(path: url.path, reason: "cannot create the file") }
        defer { try? handle.close() }
        var zip = ZipWriter(handle: handle)
        do {
            try zip.add("archive/data.pkl", pickle)
            try zip.add("archive/byteorder", Array("little".utf8))
            for (i, e) in entries.enumerated() {
                let bytes = e.values.withUnsafeBytes { raw in [UInt8](raw) }
                try zip.add("archive/data/\(i)", bytes)
            }
            try zip.add("archive/version", Array("3\n".utf8))
            try zip.finish()
        } catch {
            throw CheckpointError.io(path: url.path, reason: "\(error)")
        }
    }

    /// A scalar metadata value.
    public enum MetadataValue: Sendable {
        case string(String), int(Int), bool(Bool)
    }

    static func makePickle(_ entries: [Entry], metadata: [(String, MetadataValue)]) -> [UInt8] {
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x28]  // PROTO 2, EMPTY_DICT, MARK
        func str(_ s: String) {
            let u = Array(s.utf8)
            p.append(0x58)
            withUnsafeBytes(of: UInt32(u.count).littleEndian) { p += $0 }
            p += u
        }
        func int(_ v: Int) {
            if let i = Int32(exactly: v) {
                p.append(0x4A)
                withUnsafeBytes(of: i.littleEndian) { p += $0 }
            } else {
                p += [0x8A, 8]
                withUnsafeBytes(of: Int64(v).littleEndian) { p += $0 }
            }
        }
        func global(_ module: String, _ name: String) { p.append(0x63); p += Array("\(module)\n\(name)\n".utf8) }
        str("state_dict")
        p += [0x7D, 0x28]  // EMPTY_DICT, MARK
        for (i, e) in entries.enumerated() {
            str(e.key)
            global("torch._utils", "_rebuild_tensor_v2")
            p.append(0x28)  // MARK (args)
            p.append(0x28)  // MARK (persistent id)
            str("storage"); global("torch", "FloatStorage"); str(String(i)); str("cpu"); int(e.values.count)
            p += [0x74, 0x51]  // TUPLE, BINPERSID
            int(0)
            p.append(0x28); e.shape.forEach(int); p.append(0x74)
            p.append(0x28); Checkpoint.contiguousStrides(e.shape).forEach(int); p.append(0x74)
            p.append(0x89)  // requires_grad False
            global("collections", "OrderedDict"); p += [0x29, 0x52]  // () REDUCE
            p += [0x74, 0x52]  // TUPLE, REDUCE
        }
        p.append(0x75)  // SETITEMS
        str("magfleet")
        p += [0x7D, 0x28]
        for (k, v) in metadata {
            str(k)
            switch v {
            case let .string(s): str(s)
            case let .int(i): int(i)
            case let .bool(b): p.append(b ? 0x88 : 0x89)
            }
        }
        p += [0x75, 0x75, 0x2E]  // SETITEMS (magfleet), SETITEMS (top), STOP
        return p
    }
}

/// A minimal zip writer: stored entries, data aligned to 64 bytes via an "FB" padding extra
/// field as PyTorch does, no ZIP64 (files stay under 4 GiB).
struct ZipWriter {
    let handle: FileHandle
    private var offset = 0
    private var central: [UInt8] = []
    private var count = 0

    init(handle: FileHandle) { self.handle = handle }

    private static func le16(_ v: Int, _ a: inout [UInt8]) { withUnsafeBytes(of: UInt16(v).littleEndian) { a += $0 } }
    private static func le32(_ v: UInt32, _ a: inout [UInt8]) { withUnsafeBytes(of: v.littleEndian) { a += $0 } }

    mutating func add(_ name: String, _ data: [UInt8]) throws {
        precondition(offset + data.count < 0xFFFF_FFFF, "ZipWriter writes no ZIP64")
        let nameBytes = Array(name.utf8)
        var pad = (64 - (offset + 30 + nameBytes.count + 4) % 64) % 64
        let crc = CRC32.checksum(data)
        var header: [UInt8] = []
        Self.le32(0x0403_4b50, &header)
        Self.le16(20, &header); Self.le16(0, &header); Self.le16(0, &header)  // version, flags, stored
        Self.le16(0, &header); Self.le16(0x21, &header)  // time, date (1980-01-01)
        Self.le32(crc, &header)
        Self.le32(UInt32(data.count), &header); Self.le32(UInt32(data.count), &header)
        Self.le16(nameBytes.count, &header)
        if pad < 0 { pad = 0 }
        Self.le16(pad + 4, &header)
        header += nameBytes
        header += Array("FB".utf8); Self.le16(pad, &header); header += [UInt8](repeating: 0x5A, count: pad)
        try handle.write(contentsOf: header)
        try handle.write(contentsOf: data)

        var c: [UInt8] = []
        Self.le32(0x0201_4b50, &c)
        Self.le16(20, &c); Self.le16(20, &c); Self.le16(0, &c); Self.le16(0, &c)
        Self.le16(0, &c); Self.le16(0x21, &c)
        Self.le32(crc, &c)
        Self.le32(UInt32(data.count), &c); Self.le32(UInt32(data.count), &c)
        Self.le16(nameBytes.count, &c); Self.le16(0, &c); Self.le16(0, &c)  // name, extra, comment
        Self.le16(0, &c); Self.le16(0, &c); Self.le32(0, &c)  // disk, internal, external attributes
        Self.le32(UInt32(offset), &c)
        c += nameBytes
        central += c
        offset += header.count + data.count
        count += 1
    }

    mutating func finish() throws {
        var e: [UInt8] = []
        Self.le32(0x0605_4b50, &e)
        Self.le16(0, &e); Self.le16(0, &e)
        Self.le16(count, &e); Self.le16(count, &e)
        Self.le32(UInt32(central.count), &e)
        Self.le32(UInt32(offset), &e)
        Self.le16(0, &e)
        try handle.write(contentsOf: central + e)
    }
}

/// CRC-32 (IEEE 802.3), as zip entries record it.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBufferPointer { b in
            for byte in b { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}
