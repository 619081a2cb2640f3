import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one reader of image lists: streams a list file (or bytes) and yields one `ListEntry` per
/// row, in order, with memory bounded by its 1 MiB read buffer whatever the list's length. It
/// hashes every byte it reads (SHA-256), so a full pass also gives the list's content hash.
///
/// The grammar (docs/lists.md): fields separated by spaces or tabs; `path`, `path label`, or
/// `path label x1 y1 ... x5 y5`; blank lines and lines whose first field starts with `#` are not
/// rows; a trailing `\r` is dropped. Anything else is a row with a `problem`.
public final class ListReader {
    /// Where the list came from, for messages.
    public let source: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var lineNumber = 0
    private var nextIndex = 0
    private var hasher = SHA256()
    /// Bytes read so far (all of the list once `next()` returned nil).
    public private(set) var bytesRead = 0

    /// Opens the list file at `path`. Refuses what is not a regular file (a FIFO would block).
    /// - Throws: `ImagingError.listUnreadable`.
    public init(path: String) throws(ImagingError) {
        source = path
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw .listUnreadable(path: path, reason: reason)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .listUnreadable(path: path, reason: "not a regular file")
        }
        self.fd = fd
    }

    /// Reads list text from memory (tests, synthetic lists).
    public init(bytes: some Sequence<UInt8>, source: String = "<memory>") {
        self.source = source
        fd = -1
        buffer = Array(bytes)
        atEnd = true
        hasher.update(data: buffer)
        bytesRead = buffer.count
    }

    public convenience init(text: String, source: String = "<memory>") {
        self.init(bytes: Array(text.utf8), source: source)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The next row, or nil at the end of the list.
    /// - Throws: `ImagingError.listUnreadable` when reading fails.
    public func next() throws(ImagingError) -> ListEntry? {
        while let line = try nextLine() {
            lineNumber += 1
            let parsed: ListLine.Parsed? = line.withUnsafeBufferPointer { ListLine.parse($0) }
            guard let parsed else { continue }
            defer { nextIndex += 1 }
            return ListEntry(index: nextIndex, line: lineNumber, path: parsed.path, labelToken: parsed.label,
                             landmarks: parsed.landmarks, problem: parsed.problem)
        }
        return nil
    }

    /// The SHA-256 (hex) of every byte read so far: the list's content hash after the last row.
    public var sha256: String { hasher.finalize().map { String(format: "%02x", $0) }.joined() }

    private func nextLine() throws(ImagingError) -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[position...].firstIndex(of: 0x0A) {
                defer { position = nl + 1 }
                return buffer[position..<nl]
            }
            if atEnd {
                guard position < buffer.count else { return nil }
                defer { position = buffer.count }
                return buffer[position...]
            }
            buffer.removeFirst(position)
            position = 0
            try fill()
        }
    }

    private func fill() throws(ImagingError) {
        let chunk = 1 << 20
        let old = buffer.count
        buffer.reserveCapacity(old + chunk)
        buffer.append(contentsOf: repeatElement(0, count: chunk))
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBufferPointer { read(fd, $0.baseAddress! + old, chunk) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else {
            buffer.removeLast(chunk)
            throw .listUnreadable(path: source, reason: "read failed: \(String(cString: strerror(errno)))")
        }
        buffer.removeLast(chunk - n)
        if n == 0 { atEnd = true; return }
        buffer[old..<(old + n)].withUnsafeBytes { hasher.update(bufferPointer: $0) }
        bytesRead += n
    }
}

/// One list line's grammar. Not public: `ListReader` is the API.
enum ListLine {
    struct Parsed {
        var path: String
        var label: String?
        var landmarks: Landmarks?
        var problem: String?
    }

    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

    /// nil for a blank or comment line; otherwise the row (with `problem` when it is unusable).
    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Parsed? {
        // Field bounds on the stack: at most 13 are kept (one more than a landmark line).
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 14) { fields in
            var count = 0
            var j = 0
            let end = b.count
            while j < end {
                while j < end, isBlank(b[j]) { j += 1 }
                if j >= end { break }
                let s = j
                while j < end, !isBlank(b[j]) { j += 1 }
                fields[count] = s..<j
                count += 1
                if count > 13 { break }
            }
            return parse(b, fields: UnsafeBufferPointer(rebasing: fields[0..<count]))
        }
    }

    private static func parse(_ b: UnsafeBufferPointer<UInt8>, fields: UnsafeBufferPointer<Range<Int>>) -> Parsed? {
        guard let first = fields.first, b[first.lowerBound] != 0x23 else { return nil }  // blank or '#'
        // A field's text, or nil when it is not text (`fieldProblem` says why).
        func text(_ r: Range<Int>) -> String? {
            let bytes = UnsafeBufferPointer(rebasing: b[r])
            if !bytes.contains(where: { $0 >= 0x80 || $0 == 0 }) { return String(decoding: bytes, as: UTF8.self) }
            return bytes.contains(0) ? nil : String(validating: bytes, as: UTF8.self)
        }
        guard let path = text(first) else {
            let bytes = UnsafeBufferPointer(rebasing: b[first])
            return Parsed(path: escaped(bytes), problem: "malformed: the path \(fieldProblem(bytes)); list paths must be UTF-8 text (docs/lists.md)")
        }
        var row = Parsed(path: path)
        guard fields.count == 1 || fields.count == 2 || fields.count == 12 else {
            row.problem = "malformed: expected 1, 2 or 12 fields (path [label [x1 y1 ... x5 y5]]), found \(fields.count > 13 ? "more than 13" : "\(fields.count)")"
            return row
        }
        if fields.count >= 2 {
            guard let label = text(fields[1]) else {
                row.problem = "malformed: the label \(fieldProblem(UnsafeBufferPointer(rebasing: b[fields[1]])))"
                return row
            }
            row.label = label
        }
        if fields.count == 12 {
            var values: [Double] = []
            values.reserveCapacity(10)
            for f in fields[2..<12] {
                let field = String(decoding: UnsafeBufferPointer(rebasing: b[f]), as: UTF8.self)
                guard let v = Double(field), v.isFinite else {
                    row.problem = "malformed: landmark '\(field)' is not a finite number"
                    return row
                }
                values.append(v)
            }
            row.landmarks = Landmarks(values)
        }
        return row
    }

    /// Why a field that is not text is not: its first NUL byte or invalid UTF-8 sequence, by
    /// offset in the field. List paths travel as UTF-8 text (the protocol's `path` is a protobuf
    /// string), so a file whose name is other bytes (Latin-1, say) cannot be listed: docs/lists.md.
    static func fieldProblem(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let scalar):
                if scalar.count == 1, scalar.first == 0 { return "contains a NUL byte (offset \(offset))" }
                offset += scalar.count
            case .error:
                return String(format: "is not valid UTF-8 (byte 0x%02X at offset %d)", bytes[offset], offset)
            case .emptyInput:
                return "is not valid UTF-8"
            }
        }
    }

    /// The field as text for messages and the store: valid UTF-8 as it is, every other byte as
    /// `\xHH` (so `caf\xE9.jpg` for Latin-1 `café.jpg`), NUL as `\x00`.
    static func escaped(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out = ""
        var offset = 0
        var parser = Unicode.UTF8.ForwardParser()
        var input = bytes.makeIterator()
        while true {
            switch parser.parseScalar(from: &input) {
            case .valid(let scalar):
                if scalar.count == 1, scalar.first == 0 { out += "\\x00" }
                else { out.unicodeScalars.append(Unicode.UTF8.decode(scalar)) }
                offset += scalar.count
            case .error(let length):
                for byte in bytes[offset..<(offset + length)] { out += String(format: "\\x%02X", byte) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }
}
