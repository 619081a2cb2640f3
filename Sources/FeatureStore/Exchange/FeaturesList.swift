import Foundation
import Base

/// MagFace's `features.list` (inference/gen_feat.py): one line per image,
/// `PATH v1 v2 ... vD ` (space-separated, a trailing space), raw (unnormalized) embeddings.
public enum FeaturesList {
    /// Writes every ok row of `reader` (failed rows have no embedding and are left out),
    /// floats in their shortest round-trip form so that a re-import is bit-exact.
    /// - Returns: the number of lines written.
    @discardableResult
    public static func export(_ reader: FeatureStoreReader, to url: URL) throws -> Int {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw FeatureStoreError.io(path: url.path, message: "cannot create file")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        let paths = try reader.paths()
        let statuses = try reader.statuses()
        let d = reader.dim
        var written = 0
        try reader.forEachEmbeddingChunk(chunkRows: 4096) { range, chunk in
            var text = ""
            for (offset, row) in range.enumerated() where statuses[row].isOK {
                text += paths[row]
                text += " "
                for j in 0..<d {
                    text += chunk[offset * d + j].description
                    text += " "
                }
                text += "\n"
                written += 1
            }
            try handle.write(contentsOf: Data(text.utf8))
        }
        return written
    }

    /// Reads a features.list in batches of `batchRows` lines, every row ok, label -1. Numbers
    /// are parsed from the bytes by `FloatText` (bit-exact with strtof, no String per field).
    ///
    /// - Throws: `FeatureStoreError.parse` naming the line for a bad number or a dimension that
    ///   differs from the first line's.
    public static func read(_ url: URL, batchRows: Int = 4096, _ body: (_ dim: Int, StoreRows) throws -> Void) throws {
        var dim: Int?
        var rows = StoreRows()
        var values: [Float] = []
        try forEachLine(url) { line, lineNumber in
            let n = line.count
            var i = 0
            while i < n, FloatText.isSeparator(line[i]) { i += 1 }
            if i == n { return }
            let pathStart = i
            while i < n, !FloatText.isSeparator(line[i]) { i += 1 }
            let path = String(decoding: UnsafeBufferPointer(rebasing: line[pathStart..<i]), as: UTF8.self)
            values.removeAll(keepingCapacity: true)
            while true {
                while i < n, FloatText.isSeparator(line[i]) { i += 1 }
                if i == n { break }
                let rest = UnsafeBufferPointer(rebasing: line[i...])
                guard let (value, length) = FloatText.parse(rest), length == rest.count || FloatText.isSeparator(rest[length]) else {
                    var end = i
                    while end < n, !FloatText.isSeparator(line[end]) { end += 1 }
                    let field = String(decoding: UnsafeBufferPointer(rebasing: line[i..<end]), as: UTF8.self)
                    throw FeatureStoreError.parse(path: url.path, line: lineNumber, message: "\(field.debugDescription) is not a number")
                }
                values.append(value)
                i += length
            }
            guard !values.isEmpty else { throw FeatureStoreError.parse(path: url.path, line: lineNumber, message: "a path without an embedding") }
            if let dim, dim != values.count {
                throw FeatureStoreError.parse(path: url.path, line: lineNumber, message: "\(values.count) values, the first line has \(dim)")
            }
            dim = values.count
            rows.paths.append(path)
            rows.embeddings.append(contentsOf: values)
            rows.labels.append(-1)
            rows.statuses.append(.ok)
            if rows.count == batchRows {
                try body(values.count, rows)
                rows = StoreRows()
            }
        }
        if rows.count > 0, let dim { try body(dim, rows) }
        if dim == nil { throw FeatureStoreError.parse(path: url.path, line: nil, message: "no features in the file") }
    }

    /// Imports a features.list as a new store. The embedding dim is taken from the file
    /// (`provenance.embeddingDim` is replaced). `label` gives each row's store label from its
    /// path (the caller's label table, whose names `provenance.labelNames` records); without
    /// it every row is unlabelled (-1).
    /// - Returns: the number of rows.
    @discardableResult
    public static func importStore(from url: URL, to store: URL, provenance: StoreProvenance,
                                   label: ((String) -> Int64)? = nil, options: StoreWriteOptions = .init()) throws -> Int {
        var provenance = provenance
        var writer: FeatureStoreWriter?
        try read(url) { dim, batch in
            var batch = batch
            if let label { batch.labels = batch.paths.map(label) }
            if writer == nil {
                provenance.embeddingDim = dim
                writer = try FeatureStoreWriter(url: store, provenance: provenance, options: options)
            }
            try writer!.append(batch)
        }
        let count = writer?.rowCount ?? 0
        try writer?.finish()
        return count
    }

    /// Calls `body` with each row's path, in order, without parsing the features.
    public static func forEachPath(_ url: URL, _ body: (String) throws -> Void) throws {
        try forEachLine(url) { line, _ in
            var i = 0
            while i < line.count, FloatText.isSeparator(line[i]) { i += 1 }
            let start = i
            while i < line.count, !FloatText.isSeparator(line[i]) { i += 1 }
            if i > start { try body(String(decoding: UnsafeBufferPointer(rebasing: line[start..<i]), as: UTF8.self)) }
        }
    }

    /// Calls `body` with the bytes of each line of a file (without its newline) and its
    /// 1-based number, reading 4 MiB at a time.
    static func forEachLine(_ url: URL, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw FeatureStoreError.missingFile(path: url.path) }
        defer { try? handle.close() }
        var buffer: [UInt8] = []
        var lineNumber = 0
        while true {
            let data = try handle.read(upToCount: 4 << 20) ?? Data()
            let atEnd = data.isEmpty
            buffer.append(contentsOf: data)
            let consumed = try buffer.withUnsafeBufferPointer { all -> Int in
                var start = 0
                while start < all.count {
                    guard let newline = all[start...].firstIndex(of: 10) else {
                        guard atEnd else { return start }
                        lineNumber += 1
                        try body(UnsafeBufferPointer(rebasing: all[start...]), lineNumber)
                        return all.count
                    }
                    lineNumber += 1
                    try body(UnsafeBufferPointer(rebasing: all[start..<newline]), lineNumber)
                    start = newline + 1
                }
                return start
            }
            buffer.removeFirst(consumed)
            if atEnd { break }
        }
    }
}
