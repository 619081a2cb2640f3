import ArgumentParser
import FeatureStore
import Foundation
import Imaging

/// `magfleet import INPUT --format F --out STORE`.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make a feature store from MagFace features.list, .npy, or an ann-benchmarks HDF5 file.",
        discussion: """
            The provenance options record where the embeddings came from; give them when known \
            (the reducer refuses to compare stores with different fingerprints).
            """)

    @Argument(help: "The file to import.")
    var input: String

    @Option(help: "features-list, npy or ann.")
    var format: Export.Format

    @Option(help: "The store to write.")
    var out: String

    @Option(help: "npy: a text file of paths, one per row.")
    var paths: String?

    @Flag(help: "features-list: label each row by its parent folder, distractor folders excepted (docs/lists.md, \"Labels and distractors\").")
    var labelsFromDirs = false

    @Option(help: "The model fingerprint to record.")
    var fingerprint = "unknown"

    @Option(help: "The architecture to record.")
    var architecture = "unknown"

    @Option(help: "The preprocessing preset to record.")
    var preset = "unknown"

    @Flag(help: "Record that the embeddings include the flipped image.")
    var flip = false

    @Flag(help: "Compress the store (shuffle + deflate).")
    var compress = false

    func run() throws {
        let provenance = StoreProvenance(
            modelFingerprint: fingerprint, architecture: architecture, embeddingDim: 0, preprocessingPreset: preset,
            flip: flip, imageListSHA256: "", toolVersion: magfleetVersion, randomWeights: false, labelNames: [])
        let options = StoreWriteOptions(compress: compress)
        let source = URL(fileURLWithPath: input), store = URL(fileURLWithPath: out)
        do {
            let rows: Int
            switch format {
            case .featuresList:
                guard labelsFromDirs else {
                    rows = try FeaturesList.importStore(from: source, to: store, provenance: provenance, options: options)
                    break
                }
                // The one label rule and table (docs/lists.md): a first pass numbers the identities.
                let rule = LabelRule(fromFolders: true)
                var table = LabelTable()
                try FeaturesList.forEachPath(source) { table.add(rule.identity(path: $0, labelToken: nil)) }
                var labelled = provenance
                labelled.labelNames = table.names
                rows = try FeaturesList.importStore(
                    from: source, to: store, provenance: labelled,
                    label: { table.label(of: rule.identity(path: $0, labelToken: nil)) }, options: options)
            case .npy:
                let names = try paths.map { try String(contentsOfFile: $0, encoding: .utf8).split(separator: "\n").map(String.init) }
                rows = try NumpyArray.importStore(from: source, paths: names, to: store, provenance: provenance, options: options)
            case .ann:
                rows = try ANNBenchmarks.importStore(from: source, to: store, provenance: provenance, options: options)
            }
            print("imported \(rows) rows into \(out)")
        } catch let error as FeatureStoreError {
            throw CommandFailure("import: \(error)")
        }
    }
}
