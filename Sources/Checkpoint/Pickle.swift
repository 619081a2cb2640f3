/// A pickled value, as far as a checkpoint needs one. Lists and dicts are reference types
/// because pickle mutates them after memoizing (APPEND, SETITEMS on a memo entry).
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A whitelisted global (a storage type or a rebuild function), never resolved to code.
    case global(String)
    /// A storage reference from a persistent id: key, dtype, element count, element offset.
    case storage(StorageRef)
    case tensor(TensorRecord)

    var asString: String? { if case let .string(s) = self { return s }; return nil }
    var asInt: Int? { if case let .int(i) = self { return i }; return nil }
    var asTuple: [PickleValue]? {
        switch self {
        case let .tuple(t): return t
        case let .list(l): return l.items
        default: return nil
        }
    }
}

final class PickleList { var items: [PickleValue] = [] }

final class PickleDict {
    var keys: [String] = []
    var values: [String: PickleValue] = [:]
    func set(_ key: PickleValue, _ value: PickleValue) {
        // Checkpoint dicts are keyed by strings; other keys (optimizer state uses ints) are
        // kept under their description so that nothing is lost but nothing is interpreted.
        let k: String
        switch key {
        case let .string(s): k = s
        case let .int(i): k = String(i)
        default: k = "\(key)"
        }
        if values.updateValue(value, forKey: k) == nil { keys.append(k) }
    }
}

struct StorageRef {
    var key: String
    var dtype: DType
    var elements: Int
    /// Legacy view storages start inside their root storage.
    var elementOffset: Int = 0
}

/// A pickle virtual machine restricted to the opcodes and globals PyTorch checkpoints use.
/// Globals are matched by name against a whitelist and stay names; REDUCE only "calls" the
/// known rebuild functions, implemented here. Nothing from the file is ever executed.
struct Unpickler {
    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .float32, "torch.HalfStorage": .float16, "torch.BFloat16Storage": .bfloat16,
        "torch.DoubleStorage": .float64, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8,
        "torch.BoolStorage": .bool,
    ]
    static let functions: Set<String> = [
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "collections.OrderedDict",
    ]

    let path: String
    let bytes: UnsafeRawBufferPointer
    var pos: Int
    /// Maps persistent ids (tuples) to storage references.
    let persistentLoad: ([PickleValue]) throws -> PickleValue

    init(path: String, bytes: UnsafeRawBufferPointer, start: Int = 0,
         persistentLoad: @escaping ([PickleValue]) throws -> PickleValue) {
        self.path = path
        self.bytes = bytes
        self.pos = start
        self.persistentLoad = persistentLoad
    }

    private func bad(_ why: String) -> CheckpointError { .badPickle(path: path, reason: why) }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else {
            throw CheckpointError.truncated(path: path, reason: "pickle stream ends at byte \(bytes.count), inside an opcode at \(pos)")
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }
    private mutating func u8() throws -> Int { Int(try take(1)[0]) }
    private mutating func le<T: FixedWidthInteger>(_: T.Type) throws -> T {
        T(littleEndian: try take(MemoryLayout<T>.size).loadUnaligned(as: T.self))
    }
    private mutating func line() throws -> String {
        var end = pos
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count else { throw CheckpointError.truncated(path: path, reason: "pickle GLOBAL line unterminated") }
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<end]), as: UTF8.self)
        pos = end + 1
        return s
    }
    private mutating func utf8(_ n: Int) throws -> String { String(decoding: try take(n), as: UTF8.self) }

    /// Runs the machine to STOP and returns the value left on the stack. `pos` then points
    /// just past the STOP opcode (legacy files hold several pickles back to back).
    mutating func load() throws -> PickleValue {
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        func pop() throws -> PickleValue {
            guard let v = stack.popLast() else { throw bad("stack underflow") }
            return v
        }
        func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw bad("MARK missing") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }
        func global(_ module: String, _ name: String) throws -> PickleValue {
            let full = "\(module).\(name)"
            guard Self.storageTypes[full] != nil || Self.functions.contains(full) else {
                throw CheckpointError.unknownGlobal(path: path, name: full)
            }
            return .global(full)
        }
        while true {
            let op = try u8()
            switch op {
            case 0x80: _ = try u8()  // PROTO
            case 0x95: _ = try take(8)  // FRAME
            case 0x2E:  // STOP
                return try pop()
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: stack.append(.dict(PickleDict()))  // EMPTY_DICT
            case 0x5D: stack.append(.list(PickleList()))  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x4E: stack.append(.none)
            case 0x88: stack.append(.bool(true))
            case 0x89: stack.append(.bool(false))
            case 0x4A: stack.append(.int(Int(try le(Int32.self))))  // BININT
            case 0x4B: stack.append(.int(try u8()))  // BININT1
            case 0x4D: stack.append(.int(Int(try le(UInt16.self))))  // BININT2
            case 0x8A:  // LONG1
                let n = try u8()
                let b = try take(n)
                // Wider integers (only PyTorch's legacy magic number) keep their low 64 bits.
                var v: Int64 = 0
                for i in 0..<min(n, 8) { v |= Int64(b[i]) << (8 * Int64(i)) }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 { v -= Int64(1) << (8 * Int64(n)) }
                stack.append(.int(Int(v)))
            case 0x47:  // BINFLOAT (big-endian)
                stack.append(.float(Double(bitPattern: UInt64(bigEndian: try take(8).loadUnaligned(as: UInt64.self)))))
            case 0x58: stack.append(.string(try utf8(Int(try le(UInt32.self)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try utf8(try u8())))  // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8(Int(truncatingIfNeeded: try le(UInt64.self)))))  // BINUNICODE8
            case 0x54: stack.append(.string(try utf8(Int(try le(Int32.self)))))  // BINSTRING
            case 0x55: stack.append(.string(try utf8(try u8())))  // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try take(Int(try le(UInt32.self))))))  // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(try u8()))))  // SHORT_BINBYTES
            case 0x71: memo[try u8()] = stack.last  // BINPUT
            case 0x72: memo[Int(try le(UInt32.self))] = stack.last  // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last  // MEMOIZE
            case 0x68, 0x6A:  // BINGET, LONG_BINGET
                let k = op == 0x68 ? try u8() : Int(try le(UInt32.self))
                guard let v = memo[k] else { throw bad("memo entry \(k) missing") }
                stack.append(v)
            case 0x74: stack.append(.tuple(try popMark()))  // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
            case 0x86:  // TUPLE2
                let b = try pop(), a = try pop()
                stack.append(.tuple([a, b]))
            case 0x87:  // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                stack.append(.tuple([a, b, c]))
            case 0x6C:  // LIST
                let l = PickleList(); l.items = try popMark(); stack.append(.list(l))
            case 0x64:  // DICT
                let items = try popMark(), d = PickleDict()
                guard items.count % 2 == 0 else { throw bad("DICT with an odd item count") }
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                stack.append(.dict(d))
            case 0x61:  // APPEND
                let v = try pop()
                guard case let .list(l)? = stack.last else { throw bad("APPEND to a non-list") }
                l.items.append(v)
            case 0x65:  // APPENDS
                let items = try popMark()
                guard case let .list(l)? = stack.last else { throw bad("APPENDS to a non-list") }
                l.items += items
            case 0x73:  // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d)? = stack.last else { throw bad("SETITEM on a non-dict") }
                d.set(k, v)
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard case let .dict(d)? = stack.last, items.count % 2 == 0 else { throw bad("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x63:  // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module, name))
            case 0x93:  // STACK_GLOBAL
                guard let name = try pop().asString, let module = try pop().asString else { throw bad("STACK_GLOBAL needs two strings") }
                stack.append(try global(module, name))
            case 0x51:  // BINPERSID
                guard let pid = try pop().asTuple else { throw bad("persistent id is not a tuple") }
                stack.append(try persistentLoad(pid))
            case 0x52:  // REDUCE
                let args = try pop(), callable = try pop()
                guard case let .global(name) = callable, let argv = args.asTuple else { throw bad("REDUCE on a non-global") }
                stack.append(try reduce(name, argv))
            case 0x62:  // BUILD: state on OrderedDict (_metadata) or tensors; ignored.
                _ = try pop()
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                guard let v = stack.last else { throw bad("DUP on an empty stack") }
                stack.append(v)
            default:
                throw bad("opcode 0x\(String(op, radix: 16)) at byte \(pos - 1) is not on the whitelist")
            }
        }
    }

    private func reduce(_ name: String, _ args: [PickleValue]) throws -> PickleValue {
        switch name {
        case "collections.OrderedDict":
            return .dict(PickleDict())
        case "torch._utils._rebuild_parameter":
            guard let first = args.first else { throw bad("_rebuild_parameter without data") }
            return first
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard args.count >= 4, case let .storage(s) = args[0], let offset = args[1].asInt,
                  let shape = args[2].asTuple?.compactMap(\.asInt), let strides = args[3].asTuple?.compactMap(\.asInt),
                  shape.count == strides.count
            else { throw bad("\(name) with unexpected arguments") }
            return .tensor(TensorRecord(
                dtype: s.dtype, shape: shape, strides: strides, storageOffset: offset + s.elementOffset,
                storageKey: s.key, storageElements: s.elements))
        default:
            // A storage type (or other whitelisted name) is not callable.
            throw bad("'\(name)' cannot be called")
        }
    }
}
