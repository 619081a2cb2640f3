import Evaluation
import Foundation

extension FeatureTable {
    /// Loads the reducer's input from a store.
    ///
    /// For now the store is MagFace's `gen_feat.py` text format, `features.list`: one row per
    /// line, the image path then D floats, separated by spaces. Labels come from the sidecar
    /// `<STORE>.labels` when it exists (one `path<TAB>identity` per line; identity `-1`, `-` or
    /// empty = distractor); otherwise from the image's parent folder name, except that a path
    /// with a folder named `distractors` or starting with `megaface` (any case) is a
    /// distractor. Identities are numbered in sorted name order. (The lead replaces this body
    /// with the HDF5 store reader.)
    static func load(store: URL) throws -> FeatureTable {
        guard let data = FileManager.default.contents(atPath: store.path) else {
            throw EvaluationError.badFile(path: store.path, reason: "cannot read the store")
        }
        var sidecar: [String: String]? = nil
        let labelsURL = URL(fileURLWithPath: store.path + ".labels")
        if let labelData = FileManager.default.contents(atPath: labelsURL.path) {
            var map: [String: String] = [:]
            for line in String(decoding: labelData, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
                map[String(parts[0])] = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
            }
            sidecar = map
        }
        var embeddings: [Float] = [], paths: [String] = [], names: [String?] = []
        var dimension = -1
        var lineNumber = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            lineNumber += 1
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { throw EvaluationError.badFile(path: store.path, reason: "line \(lineNumber): expected a path and floats") }
            if dimension < 0 { dimension = fields.count - 1 }
            guard fields.count - 1 == dimension else {
                throw EvaluationError.badFile(path: store.path, reason: "line \(lineNumber): \(fields.count - 1) floats, expected \(dimension)")
            }
            for f in fields.dropFirst() {
                guard let x = Float(f) else { throw EvaluationError.badFile(path: store.path, reason: "line \(lineNumber): not a number: \(f)") }
                embeddings.append(x)
            }
            let path = String(fields[0])
            paths.append(path)
            if let sidecar {
                let name = sidecar[path] ?? ""
                names.append(name.isEmpty || name == "-" || name == "-1" ? nil : name)
            } else {
                let parts = path.split(separator: "/").dropLast().map { $0.lowercased() }
                let distractor = parts.contains { $0 == "distractors" || $0.hasPrefix("megaface") }
                names.append(distractor ? nil : path.split(separator: "/").dropLast().last.map(String.init) ?? "")
            }
        }
        guard dimension > 0 else { throw EvaluationError.badFile(path: store.path, reason: "no rows") }
        let labelNames = Set(names.compactMap { $0 }).sorted()
        let index = Dictionary(uniqueKeysWithValues: labelNames.enumerated().map { ($1, $0) })
        return try FeatureTable(
            dimension: dimension, embeddings: embeddings, labels: names.map { $0.map { index[$0]! } ?? -1 },
            labelNames: labelNames, paths: paths)
    }
}
