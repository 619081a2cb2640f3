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
        var embeddings = [Float](repeating: 0, count: okRows.count * dim)
        // Read in the store's order, keeping ok rows only; runs of ok rows stream in chunks.
        var next = 0
        try reader.forEachEmbeddingChunk(rows: 0..<reader.count, chunkRows: 8192) { range, chunk in
            for row in range where next < okRows.count && okRows[next] == row {
                let src = (row - range.lowerBound) * dim
                for d in 0..<dim { embeddings[next * dim + d] = chunk[src + d] }
                next += 1
            }
        }
        let table = try FeatureTable(
            dimension: dim, embeddings: embeddings, norms: okRows.map { allNorms[$0] },
            labels: okRows.map { Int(allLabels[$0]) }, labelNames: reader.labelNames,
            paths: okRows.map { allPaths[$0] })
        return (table, reader.count - okRows.count)
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
        try FeaturesList.read(url) { dim, rows in
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
