import Foundation

/// A PyTorch checkpoint (`torch.save` output), zip (torch >= 1.6) or legacy format, mapped
/// read-only. Opening parses only the pickle; tensor data is read by `floats(_:)`, one tensor
/// at a time, so tensors nobody asks for are never paged in.
///
/// Not thread-safe: `storagesRead` is updated by reads.
public final class Checkpoint {
    public enum Format: String, Sendable { case zip, legacy }

    public let url: URL
    public let format: Format
    /// The state dict: the value of a top-level `state_dict` entry (MagFace), or the top-level
    /// dict itself (a bare state dict such as arcface_torch's `backbone.pth`). Keys verbatim.
    public let tensors: [String: TensorRecord]
    /// The state dict's keys in file order.
    public let keys: [String]
    /// Top-level scalar entries (and scalars one dict deep, as `outer.inner`), rendered as
    /// text: e.g. MagFace's `epoch`, `arch`, or magfleet's `magfleet.random_weights`.
    public let metadata: [String: String]
    /// Keys of the storages read so far: tests use it to prove unused tensors stay unread.
    public private(set) var storagesRead: Set<String> = []

    private let file: MappedFile
    /// Storage key -> byte offset of its first element.
    private var storageOffsets: [String: Int]
    private var storageSizes: [String: Int]

    /// Opens and parses `url`.
    ///
    /// - Throws: `CheckpointError` naming the file and what is wrong with it.
    public init(contentsOf url: URL) throws {
        self.url = url
        let file = try MappedFile(path: url.path)
        self.file = file
        let path = url.path
        let b = file.bytes
        var offsets: [String: Int] = [:], sizes: [String: Int] = [:]
        let root: PickleValue
        if b.count >= 4, file.le(0, as: UInt32.self) == ZipDirectory.localSignature {
            format = .zip
            let zip = try ZipDirectory(file: file)
            guard let pkl = zip.names.first(where: { $0 == "data.pkl" || $0.hasSuffix("/data.pkl") }), let entry = zip.entries[pkl] else {
                throw CheckpointError.notACheckpoint(path: path, reason: "zip archive without a data.pkl entry")
            }
            let prefix = String(pkl.dropLast("data.pkl".count))
            for name in zip.names where name.hasPrefix(prefix + "data/") {
                let key = String(name.dropFirst(prefix.count + 5))
                offsets[key] = zip.entries[name]!.dataOffset
                sizes[key] = zip.entries[name]!.size
            }
            let slice = UnsafeRawBufferPointer(rebasing: b[entry.dataOffset..<(entry.dataOffset + entry.size)])
            var u = Unpickler(path: path, bytes: slice) { pid in try Self.storage(pid, legacy: false, path: path) }
            root = try u.load()
        } else if b.count >= 2, b[0] == 0x80 {
            format = .legacy
            // Legacy: pickles of the magic number, the protocol version, sys_info, the object,
            // the list of storage keys; then each storage as int64 count + raw elements.
            var dtypes: [String: DType] = [:]
            func plain(_ start: Int) throws -> (PickleValue, Int) {
                var u = Unpickler(path: path, bytes: b, start: start) { _ in
                    throw CheckpointError.badPickle(path: path, reason: "persistent id in a header pickle")
                }
                let v = try u.load()
                return (v, u.pos)
            }
            let (magic, p1) = try plain(0)
            guard magic.isLegacyMagic else {
                throw CheckpointError.notACheckpoint(path: path, reason: "a pickle without PyTorch's magic number")
            }
            let (_, p2) = try plain(p1)  // protocol version
            let (_, p3) = try plain(p2)  // sys_info
            var u = Unpickler(path: path, bytes: b, start: p3) { pid in
                let v = try Self.storage(pid, legacy: true, path: path)
                if case let .storage(s) = v { dtypes[s.key] = s.dtype }
                return v
            }
            root = try u.load()
            let (keyList, p5) = try plain(u.pos)
            guard let keys = keyList.asTuple?.compactMap(\.asString) else {
                throw CheckpointError.badPickle(path: path, reason: "legacy storage key list is not a list of strings")
            }
            var p = p5
            for key in keys {
                guard let dtype = dtypes[key] else { throw CheckpointError.missingStorage(path: path, key: key) }
                guard p + 8 <= b.count else {
                    throw CheckpointError.truncated(path: path, reason: "storage '\(key)' header at byte \(p) of \(b.count)")
                }
                let n = Int(file.le(p, as: Int64.self))
                let (bytes, overflow) = n.multipliedReportingOverflow(by: dtype.size)
                guard n >= 0, !overflow, bytes <= b.count - (p + 8) else {
                    throw CheckpointError.truncated(path: path, reason: "storage '\(key)' at byte \(p) announces \(n) elements, past the end of the \(b.count)-byte file")
                }
                offsets[key] = p + 8
                sizes[key] = bytes
                p += 8 + bytes
            }
        } else {
            let what = b.count == 0 ? "the file is empty" : "it starts with neither a zip header nor a pickle"
            throw CheckpointError.notACheckpoint(path: path, reason: what)
        }
        storageOffsets = offsets
        storageSizes = sizes
        guard case let .dict(top) = root else {
            throw CheckpointError.noStateDict(path: path, reason: "the top-level object is not a dict")
        }
        var stateDict = top
        if case let .dict(sd)? = top.values["state_dict"] { stateDict = sd }
        var tensors: [String: TensorRecord] = [:], keys: [String] = []
        for k in stateDict.keys {
            if case let .tensor(t)? = stateDict.values[k] { tensors[k] = t; keys.append(k) }
        }
        if tensors.isEmpty {
            throw CheckpointError.noStateDict(path: path, reason: "no tensors at the top level or under 'state_dict' (top-level keys: \(top.keys.prefix(8).joined(separator: ", ")))")
        }
        self.tensors = tensors
        self.keys = keys
        var metadata: [String: String] = [:]
        for k in top.keys where k != "state_dict" {
            if let s = top.values[k]!.scalarText { metadata[k] = s }
            if case let .dict(inner) = top.values[k]! {
                for ik in inner.keys { if let s = inner.values[ik]!.scalarText { metadata["\(k).\(ik)"] = s } }
            }
        }
        self.metadata = metadata
    }

    private static func storage(_ pid: [PickleValue], legacy: Bool, path: String) throws -> PickleValue {
        guard pid.count >= 5, pid[0].asString == "storage", case let .global(type) = pid[1],
              let dtype = Unpickler.storageTypes[type], let key = pid[2].asString, let n = pid[4].asInt
        else { throw CheckpointError.badPickle(path: path, reason: "unexpected persistent id \(pid.count) fields") }
        var ref = StorageRef(key: key, dtype: dtype, elements: n)
        if legacy, pid.count >= 6, let view = pid[5].asTuple, view.count == 3, let off = view[1].asInt, let size = view[2].asInt {
            // A view into root storage `key`: offset in bytes in old torch.
            ref.elementOffset = off / dtype.size
            ref.elements = size
        }
        return .storage(ref)
    }

    /// Reads a tensor as float32, contiguous in row-major order of its shape, honouring its
    /// strides and offset and converting float16/bfloat16.
    ///
    /// - Parameter name: the tensor's key, used only in error messages.
    /// - Throws: `unsupportedDType`, `missingStorage`, `tensorOutOfBounds`.
    public func floats(_ t: TensorRecord, name: String = "") throws -> [Float] {
        let path = url.path
        guard let base = storageOffsets[t.storageKey], let size = storageSizes[t.storageKey] else {
            throw CheckpointError.missingStorage(path: path, key: t.storageKey)
        }
        switch t.dtype {
        case .float32, .float16, .bfloat16: break
        default: throw CheckpointError.unsupportedDType(path: path, tensor: name, dtype: t.dtype.rawValue)
        }
        // Count and the highest element index the view touches, refusing overflow (the
        // shape and strides come from the file).
        let outOfBounds = CheckpointError.tensorOutOfBounds(path: path, tensor: name)
        var count = 1, last = t.storageOffset
        guard t.storageOffset >= 0 else { throw outOfBounds }
        for (d, s) in zip(t.shape, t.strides) {
            guard d >= 0, s >= 0 else { throw outOfBounds }
            let (c, o1) = count.multipliedReportingOverflow(by: d)
            let (span, o2) = max(d - 1, 0).multipliedReportingOverflow(by: s)
            let (l, o3) = last.addingReportingOverflow(span)
            guard !o1, !o2, !o3 else { throw outOfBounds }
            count = c
            last = l
        }
        if count == 0 { return [] }
        guard last < size / t.dtype.size else { throw outOfBounds }
        storagesRead.insert(t.storageKey)
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[base..<(base + size)])
        let dtype = t.dtype
        func element(_ i: Int) -> Float {
            switch dtype {
            case .float32: return Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            case .float16: return Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
            default: return Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) << 16)
            }
        }
        var out = [Float](repeating: 0, count: count)
        let contiguous = t.strides == Self.contiguousStrides(t.shape)
        out.withUnsafeMutableBufferPointer { o in
            if contiguous {
                if dtype == .float32 {
                    UnsafeMutableRawBufferPointer(o).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(t.storageOffset * 4)..<((t.storageOffset + count) * 4)]))
                } else {
                    for i in 0..<count { o[i] = element(t.storageOffset + i) }
                }
            } else {
                // Walk the shape in row-major order with an odometer over the dimensions.
                var index = [Int](repeating: 0, count: t.shape.count)
                var src = t.storageOffset
                for i in 0..<count {
                    o[i] = element(src)
                    var d = t.shape.count - 1
                    while d >= 0 {
                        index[d] += 1
                        src += t.strides[d]
                        if index[d] < t.shape[d] { break }
                        src -= t.strides[d] * t.shape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        file.release(base..<(base + size))
        return out
    }

    /// Row-major strides of a contiguous tensor of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) { strides[d] = s; s *= shape[d] }
        return strides
    }
}

extension PickleValue {
    /// PyTorch's legacy magic number 0x1950a86a20f9469cfc6c, a LONG1 too large for Int: the
    /// unpickler keeps only its low 64 bits.
    var isLegacyMagic: Bool {
        if case let .int(v) = self { return UInt64(bitPattern: Int64(v)) == 0xa86a_20f9_469c_fc6c }
        return false
    }

    var scalarText: String? {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .float(f): return String(f)
        case let .bool(b): return b ? "true" : "false"
        default: return nil
        }
    }
}
