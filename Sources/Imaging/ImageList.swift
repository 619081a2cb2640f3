import Foundation

/// A parsed image list: one image per line, in one of MagFace's formats
///
///     path                          # MagFace's own inference list
///     path label                    # integer label or identity name
///     path label x1 y1 ... x5 y5    # plus five landmarks (image pixels)
///
/// Fields are separated by spaces or tabs (so paths cannot contain them, as in MagFace's
/// `split()`); blank lines and lines whose first non-blank character is `#` are ignored; CRLF
/// is accepted. Paths are kept as written (relative ones are resolved against `--root` by the
/// pipeline). Labels are integers, or identity names mapped to ids 0, 1, 2... in order of first
/// appearance with the names kept in `labelNames`; if integer and name labels are mixed, the
/// integers are turned into names (their decimal text). With `labelFromFolder`, a line without
/// a label takes the name of its path's parent folder.
///
/// Malformed lines and repeated paths (the later ones) are left out and reported in
/// `problems` with their line numbers.
///
/// Storage is columnar and compact (all path bytes in one buffer plus ~24 bytes per entry), so
/// a 10-million-line list takes memory proportional to its size, parses in seconds, and is
/// cheap to copy (copy-on-write) and to cut into shards: the list is a random-access collection
/// of `Entry`, so a coordinator hands out index ranges and `list[range]` is O(1).
public struct ImageList: Sendable, RandomAccessCollection {
    public struct Options: Sendable, Equatable {
        /// Label lines without a label by their parent folder's name.
        public var labelFromFolder: Bool
        public init(labelFromFolder: Bool = false) { self.labelFromFolder = labelFromFolder }
    }

    /// One image of the list.
    public struct Entry: Sendable, Equatable {
        /// Position in the list (0-based, after bad lines and duplicates are left out).
        public var index: Int
        /// 1-based line number in the list file.
        public var line: Int
        /// The path as written in the list.
        public var path: String
        /// Integer label, or the id of a name in `labelNames`; nil when the line has none.
        public var label: Int?
        public var landmarks: Landmarks?

        /// An entry not from a parsed list (e.g. a single file named on the command line).
        public init(index: Int, line: Int, path: String, label: Int? = nil, landmarks: Landmarks? = nil) {
            self.index = index
            self.line = line
            self.path = path
            self.label = label
            self.landmarks = landmarks
        }
    }

    /// A line that was left out, and why.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            case malformed(String)
            /// The same path already appeared on `firstLine`.
            case duplicate(path: String, firstLine: Int)
        }
        public var line: Int
        public var kind: Kind
        /// What is wrong, without the line number.
        public var reason: String {
            switch kind {
            case .malformed(let why): "malformed: \(why)"
            case .duplicate(let path, let first): "duplicate of line \(first): \(path)"
            }
        }
        public var description: String { "line \(line): \(reason)" }
    }

    /// Where the list came from (file path or a label), for messages.
    public let source: String
    /// Lines left out, in line order.
    public private(set) var problems: [Problem]
    /// When labels are names: id -> name. Empty when labels are integers.
    public private(set) var labelNames: [String]
    /// Whether any entry carries landmarks.
    public var hasLandmarks: Bool { !landmarkSlot.isEmpty }

    // Columns. Entry i's path is pathBytes[pathEnd[i-1] ..< pathEnd[i]].
    private var pathBytes: [UInt8]
    private var pathEnd: [Int]
    private var lines: [Int32]
    private var labels: [Int32]          // Self.noLabel when absent
    private var landmarkSlot: [Int32]    // empty if no entry has landmarks; else -1 or slot
    private var landmarkValues: [Double] // 10 per slot
    static let noLabel = Int32.min

    public var startIndex: Int { 0 }
    public var endIndex: Int { pathEnd.count }

    public subscript(i: Int) -> Entry {
        let start = i == 0 ? 0 : pathEnd[i - 1]
        let path = pathBytes.withUnsafeBufferPointer { String(decoding: $0[start..<pathEnd[i]], as: UTF8.self) }
        var marks: Landmarks?
        if !landmarkSlot.isEmpty, landmarkSlot[i] >= 0 {
            let s = Int(landmarkSlot[i]) * 10
            marks = Landmarks(Array(landmarkValues[s..<(s + 10)]))
        }
        let label = labels[i] == Self.noLabel ? nil : Int(labels[i])
        return Entry(index: i, line: Int(lines[i]), path: path, label: label, landmarks: marks)
    }

    /// The name of label `id` when labels are names.
    public func labelName(_ id: Int) -> String? {
        labelNames.indices.contains(id) ? labelNames[id] : nil
    }

    /// Reads and parses the list file at `path`.
    /// - Throws: `ImagingError.listUnreadable` when the file cannot be read.
    public static func load(path: String, options: Options = Options()) throws(ImagingError) -> ImageList {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "\(error.localizedDescription)" : "no such file"
            throw .listUnreadable(path: path, reason: reason)
        }
        return parse(data, source: path, options: options)
    }

    /// Parses list text.
    public static func parse(_ text: String, source: String = "<string>", options: Options = Options()) -> ImageList {
        parse(Data(text.utf8), source: source, options: options)
    }

    /// Parses list bytes (UTF-8).
    public static func parse(_ data: Data, source: String, options: Options = Options()) -> ImageList {
        data.withUnsafeBytes { raw in
            var parser = ListParser(options: options)
            parser.run(raw.bindMemory(to: UInt8.self))
            var list = ImageList(source: source, problems: parser.problems, labelNames: parser.names,
                                 pathBytes: parser.pathBytes, pathEnd: parser.pathEnd, lines: parser.lines,
                                 labels: parser.labels, landmarkSlot: parser.landmarkSlot,
                                 landmarkValues: parser.landmarkValues)
            list.removeDuplicates()
            return list
        }
    }

    private init(source: String, problems: [Problem], labelNames: [String], pathBytes: [UInt8], pathEnd: [Int],
                 lines: [Int32], labels: [Int32], landmarkSlot: [Int32], landmarkValues: [Double]) {
        self.source = source
        self.problems = problems
        self.labelNames = labelNames
        self.pathBytes = pathBytes
        self.pathEnd = pathEnd
        self.lines = lines
        self.labels = labels
        self.landmarkSlot = landmarkSlot
        self.landmarkValues = landmarkValues
    }

    /// Finds repeated paths by sorting 64-bit hashes (memory: 16 bytes per entry, briefly),
    /// confirms them byte for byte, keeps the first occurrence and reports the others.
    private mutating func removeDuplicates() {
        let n = pathEnd.count
        guard n > 1 else { return }
        var hashes = [UInt64](repeating: 0, count: n)
        pathBytes.withUnsafeBufferPointer { bytes in
            var start = 0
            for i in 0..<n {
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for j in start..<pathEnd[i] { h = (h ^ UInt64(bytes[j])) &* 0x100_0000_01b3 }
                hashes[i] = h
                start = pathEnd[i]
            }
        }
        // Fast path: sort the bare hashes; with no equal neighbours there are no duplicates.
        var sorted = hashes
        sorted.sort()
        var colliding = Set<UInt64>()
        for k in 1..<n where sorted[k] == sorted[k - 1] { colliding.insert(sorted[k]) }
        sorted = []
        guard !colliding.isEmpty else { return }
        var keyed = [(hash: UInt64, index: Int32)]()
        for i in 0..<n where colliding.contains(hashes[i]) { keyed.append((hashes[i], Int32(i))) }
        hashes = []
        keyed.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.index < $1.index }
        var drop = [Int32: Int32]()  // duplicate index -> first index
        pathBytes.withUnsafeBufferPointer { bytes in
            func path(_ i: Int) -> UnsafeBufferPointer<UInt8> {
                let s = i == 0 ? 0 : pathEnd[i - 1]
                return UnsafeBufferPointer(rebasing: bytes[s..<pathEnd[i]])
            }
            var runStart = 0
            let m = keyed.count
            while runStart < m {
                var runEnd = runStart + 1
                while runEnd < m, keyed[runEnd].hash == keyed[runStart].hash { runEnd += 1 }
                if runEnd - runStart > 1 {
                    for a in (runStart + 1)..<runEnd {
                        let ia = Int(keyed[a].index)
                        for b in runStart..<a where drop[keyed[b].index] == nil {
                            if path(ia).elementsEqual(path(Int(keyed[b].index))) {
                                drop[keyed[a].index] = keyed[b].index
                                break
                            }
                        }
                    }
                }
                runStart = runEnd
            }
        }
        guard !drop.isEmpty else { return }
        for (dup, first) in drop {
            problems.append(Problem(line: Int(lines[Int(dup)]),
                                    kind: .duplicate(path: self[Int(dup)].path, firstLine: Int(lines[Int(first)]))))
        }
        problems.sort { $0.line < $1.line }
        // Compact the columns.
        var newBytes = [UInt8](), newEnd = [Int](), newLines = [Int32](), newLabels = [Int32](), newSlot = [Int32]()
        newBytes.reserveCapacity(pathBytes.count)
        newEnd.reserveCapacity(n - drop.count)
        var start = 0
        for i in 0..<n {
            defer { start = pathEnd[i] }
            if drop[Int32(i)] != nil { continue }
            newBytes.append(contentsOf: pathBytes[start..<pathEnd[i]])
            newEnd.append(newBytes.count)
            newLines.append(lines[i])
            newLabels.append(labels[i])
            if !landmarkSlot.isEmpty { newSlot.append(landmarkSlot[i]) }
        }
        pathBytes = newBytes; pathEnd = newEnd; lines = newLines; labels = newLabels; landmarkSlot = newSlot
    }
}

/// The single pass over the bytes. Not public: `ImageList.parse` is the API.
struct ListParser {
    let options: ImageList.Options
    var problems: [ImageList.Problem] = []
    var names: [String] = []
    var nameIDs: [String: Int32] = [:]
    var labelsAreNames = false
    var pathBytes: [UInt8] = []
    var pathEnd: [Int] = []
    var lines: [Int32] = []
    var labels: [Int32] = []
    var landmarkSlot: [Int32] = []
    var landmarkValues: [Double] = []

    init(options: ImageList.Options) { self.options = options }

    mutating func run(_ b: UnsafeBufferPointer<UInt8>) {
        let estimate = b.count / 24 + 1
        pathBytes.reserveCapacity(b.count)
        pathEnd.reserveCapacity(estimate); lines.reserveCapacity(estimate); labels.reserveCapacity(estimate)
        var lineNumber: Int32 = 0
        var i = 0
        let n = b.count
        var fields = [Range<Int>](repeating: 0..<0, count: 13)
        while i < n {
            lineNumber += 1
            var end = i
            while end < n, b[end] != 0x0A { end += 1 }
            let next = end + 1
            // Tokenise [i, end).
            var count = 0, j = i
            var overflow = false
            while j < end {
                while j < end, b[j] == 0x20 || b[j] == 0x09 || b[j] == 0x0D { j += 1 }
                if j >= end { break }
                let s = j
                while j < end, b[j] != 0x20, b[j] != 0x09, b[j] != 0x0D { j += 1 }
                if count < 13 { fields[count] = s..<j } else { overflow = true }
                count += 1
            }
            defer { i = next }
            if count == 0 || b[fields[0].lowerBound] == 0x23 { continue }  // blank or '#'
            if overflow || !(count == 1 || count == 2 || count == 12) {
                problems.append(.init(line: Int(lineNumber), kind: .malformed(
                    "expected 1, 2 or 12 fields (path [label [x1 y1 ... x5 y5]]), found \(count)")))
                continue
            }
            if b[fields[0].lowerBound] == 0x00 || !isValidUTF8(b, fields[0]) {
                problems.append(.init(line: Int(lineNumber), kind: .malformed("path is not valid UTF-8 text")))
                continue
            }
            var values = [Double]()
            if count == 12 {
                values.reserveCapacity(10)
                var bad: String?
                for f in fields[2..<12] {
                    let text = String(decoding: UnsafeBufferPointer(rebasing: b[f]), as: UTF8.self)
                    guard let v = Double(text), v.isFinite else { bad = text; break }
                    values.append(v)
                }
                if let bad {
                    problems.append(.init(line: Int(lineNumber), kind: .malformed("landmark '\(bad)' is not a finite number")))
                    continue
                }
            }
            var label = ImageList.noLabel
            if count >= 2 {
                label = labelID(UnsafeBufferPointer(rebasing: b[fields[1]]))
            } else if options.labelFromFolder {
                let p = fields[0]
                var slash = p.upperBound - 1
                while slash >= p.lowerBound, b[slash] != 0x2F { slash -= 1 }
                if slash > p.lowerBound {
                    var s = slash - 1
                    while s >= p.lowerBound, b[s] != 0x2F { s -= 1 }
                    label = nameID(String(decoding: UnsafeBufferPointer(rebasing: b[(s + 1)..<slash]), as: UTF8.self))
                } else {
                    problems.append(.init(line: Int(lineNumber), kind: .malformed("no label and the path has no parent folder to take it from")))
                    continue
                }
            }
            pathBytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[fields[0]]))
            pathEnd.append(pathBytes.count)
            lines.append(lineNumber)
            labels.append(label)
            if !values.isEmpty {
                if landmarkSlot.isEmpty { landmarkSlot = [Int32](repeating: -1, count: lines.count - 1) }
                landmarkSlot.append(Int32(landmarkValues.count / 10))
                landmarkValues.append(contentsOf: values)
            } else if !landmarkSlot.isEmpty {
                landmarkSlot.append(-1)
            }
        }
    }

    private func isValidUTF8(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
        if b[r].allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) != nil
    }

    /// An integer label, or the id of a name (switching every earlier integer label to a name).
    private mutating func labelID(_ token: UnsafeBufferPointer<UInt8>) -> Int32 {
        if !labelsAreNames, let v = Self.parseInt(token) { return v }
        let name = String(decoding: token, as: UTF8.self)
        return nameID(name)
    }

    private mutating func nameID(_ name: String) -> Int32 {
        if !labelsAreNames {
            labelsAreNames = true
            for k in labels.indices where labels[k] != ImageList.noLabel {
                labels[k] = intern(String(labels[k]))
            }
        }
        return intern(name)
    }

    private mutating func intern(_ name: String) -> Int32 {
        if let id = nameIDs[name] { return id }
        let id = Int32(names.count)
        names.append(name)
        nameIDs[name] = id
        return id
    }

    static func parseInt(_ t: UnsafeBufferPointer<UInt8>) -> Int32? {
        guard !t.isEmpty, t.count <= 10 else { return nil }
        var k = 0, negative = false
        if t[0] == 0x2D { negative = true; k = 1; if t.count == 1 { return nil } }
        var v: Int64 = 0
        while k < t.count {
            let d = t[k] &- 0x30
            guard d < 10 else { return nil }
            v = v * 10 + Int64(d)
            k += 1
        }
        if negative { v = -v }
        guard v > Int64(Int32.min), v <= Int64(Int32.max) else { return nil }
        return Int32(v)
    }
}
