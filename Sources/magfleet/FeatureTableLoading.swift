import Evaluation
import FeatureStore
import Foundation
import Imaging

extension FeatureTable {
    /// Loads the reducer's input: a magfleet HDF5 store, or MagFace's `gen_feat.py` text
    /// output (`features.list`) as it is.
    ///
    /// - A store (or shard) is read through `FeatureStoreReader`: its ok rows, labels and label
    ///   names. Failed rows carry no embedding and are left out; `excluded` says how many.
    /// - A `features.list` (one `path f1 … fD` line per image) has no labels. They come from
    ///   the sidecar `<STORE>.labels` when it exists (`path<TAB>identity` per line; identity
    ///   `-1`, `-` or empty = distractor, as is a path it does not name), otherwise from the
    ///   image's parent folder by the one label rule (docs/lists.md, "Labels and distractors":
    ///   `distractors/` and `megaface*` folders are distractors). The one label table numbers them.
    static func load(store: URL) throws -> FeatureTable {
        guard try isHDF5(store) else {
            do { return try loadFeaturesList(store) } catch let error as FeatureStoreError {
                guard case let .parse(_, line, message) = error else { throw error }
                throw EvaluationError.badFile(path: store.path, reason: """
                    not a feature store and not a features.list: it is \(try contentKind(store)), without the HDF5 \
                    signature (whatever its name), and \(line.map { "line \($0)" } ?? "the file") does not parse as \
                    `path v1 … vD` (\(message)). Expected a magfleet feature store (HDF5, from extract, merge or \
                    import) or MagFace gen_feat.py's features.list
                    """)
            }
        }
        let (table, excluded) = try loadStore(store)
        if excluded > 0 {
            Console.error("note: \(excluded) failed row(s) of \(store.path) have no embedding and are left out (magfleet info lists them)")
        }
        return table
    }

    /// The model a store's features came from, as its attributes record it, or nil for inputs
    /// that do not record it (features.list).
    static func model(store: URL) -> Report.Model? {
        guard (try? isHDF5(store)) == true, let reader = try? FeatureStoreReader(url: store) else { return nil }
        let p = reader.provenance
        return Report.Model(fingerprint: p.modelFingerprint, architecture: p.architecture, preset: p.preprocessingPreset, flip: p.flip, randomWeights: p.randomWeights)
    }

    /// The model fingerprint a store records, or nil for inputs that record none (a
    /// features.list, an import without --fingerprint).
    static func modelFingerprint(store: URL) -> String? {
        guard (try? isHDF5(store)) == true, let reader = try? FeatureStoreReader(url: store) else { return nil }
        let fingerprint = reader.provenance.modelFingerprint
        return fingerprint == "unknown" || fingerprint.isEmpty ? nil : fingerprint
    }

    /// What a file that is not HDF5 looks like, for a message: text, or binary with its first bytes.
    private static func contentKind(_ url: URL) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return "unreadable" }
        defer { try? handle.close() }
        let head = Array(handle.readData(ofLength: 512))
        if head.isEmpty { return "empty" }
        let isText = head.allSatisfy { $0 == 9 || $0 == 10 || $0 == 13 || ($0 >= 32 && $0 != 127) }
        if isText { return "a text file" }
        return "a binary file (it starts " + head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ") + ")"
    }

    private static func isHDF5(_ url: URL) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw EvaluationError.badFile(path: url.path, reason: "cannot read the store")
        }
        defer { try? handle.close() }
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        return Array(handle.readData(ofLength: 8)) == signature
    }

    private static func loadStore(_ url: URL) throws -> (table: FeatureTable, excluded: Int) {
        let reader = try FeatureStoreReader(url: url)
        let dim = reader.dim
        let statuses = try reader.statuses()
        let okRows = statuses.indices.filter { if case .ok = statuses[$0] { return true } else { return false } }
        let allPaths = try reader.paths(), allLabels = try reader.labels(), allNorms = try reader.norms()
        // The one copy of the table: the store reads into it in blocks of 8,192 rows.
        var embeddings = [Float](repeating: 0, count: okRows.count * dim)
        try embeddings.withUnsafeMutableBufferPointer { table in
            if okRows.count == reader.count {
                var start = 0
                while start < reader.count {
                    let end = min(start + 8192, reader.count)
                    try reader.readEmbeddings(rows: start..<end, into: UnsafeMutableBufferPointer(rebasing: table[(start * dim)..<(end * dim)]))
                    start = end
                }
                return
            }
            // Failed rows have no embedding: read in the store's order, keeping ok rows only.
            var next = 0
            try reader.forEachEmbeddingChunk(rows: 0..<reader.count, chunkRows: 8192) { range, chunk in
                for row in range where next < okRows.count && okRows[next] == row {
                    let src = UnsafeBufferPointer(rebasing: chunk[((row - range.lowerBound) * dim)..<((row - range.lowerBound + 1) * dim)])
                    _ = UnsafeMutableBufferPointer(rebasing: table[(next * dim)..<((next + 1) * dim)]).update(fromContentsOf: src)
                    next += 1
                }
            }
        }
        let table = try FeatureTable(
            dimension: dim, embeddings: embeddings, norms: okRows.map { allNorms[$0] },
            labels: okRows.map { Int(allLabels[$0]) }, labelNames: reader.labelNames,
            paths: okRows.map { allPaths[$0] })
        return (table, reader.count - okRows.count)
    }

    /// The number of lines of a file (newlines, plus a last line without one), read in 8 MiB
    /// blocks with memchr: an upper bound of a features.list's rows.
    static func countLines(_ url: URL) throws -> Int {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw EvaluationError.badFile(path: url.path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let size = 8 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        var lines = 0, last: UInt8 = 10
        while true {
            let n = read(fd, buffer, size)
            if n < 0 {
                if errno == EINTR { continue }
                throw EvaluationError.badFile(path: url.path, reason: "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            var p = UnsafeRawPointer(buffer), remaining = n
            while remaining > 0, let hit = memchr(p, 10, remaining) {
                lines += 1
                let next = UnsafeRawPointer(hit) + 1
                remaining -= next - p
                p = next
            }
            last = buffer.load(fromByteOffset: n - 1, as: UInt8.self)
        }
        return lines + (last == 10 ? 0 : 1)
    }

    private static func loadFeaturesList(_ url: URL) throws -> FeatureTable {
        var sidecar: [String: String]? = nil
        if let labelData = FileManager.default.contents(atPath: url.path + ".labels") {
            var map: [String: String] = [:]
            for line in String(decoding: labelData, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
                map[String(parts[0])] = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            }
            sidecar = map
        }
        var embeddings: [Float] = [], paths: [String] = []
        var dimension = 0
        // Reserved once from the file's line count, so that appending never reallocates: a
        // doubling array would hold the old and the new buffer at once (two tables at 1M rows).
        let lines = try countLines(url)
        paths.reserveCapacity(lines)
        try FeaturesList.read(url) { dim, rows in
            if dimension == 0 { embeddings.reserveCapacity(lines * dim) }
            dimension = dim
            embeddings.append(contentsOf: rows.embeddings)
            paths.append(contentsOf: rows.paths)
        }
        let names: [String?] = paths.map { path in
            if let sidecar {
                let token = sidecar[path] ?? ""
                return LabelRule().identity(path: path, labelToken: token.isEmpty || token == "-" ? nil : token)
            }
            return LabelRule(fromFolders: true).identity(path: path, labelToken: nil)
        }
        let table = LabelTable(identities: names)
        let labelNames = table.names
        return try FeatureTable(
            dimension: dimension, embeddings: embeddings,
            labels: names.map { Int(table.label(of: $0)) },
            labelNames: labelNames, paths: paths)
    }
}
