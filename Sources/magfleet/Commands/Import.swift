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

            Examples:
              magfleet import features.list --format features-list --out imported.h5 \\
                  --labels-from-dirs --provenance-from features.h5
            """)

    @Argument(help: "The file to import.")
    var input: String

    @Option(help: "features-list, npy or ann.")
    var format: Export.Format

    @Option(help: "The store to write.")
    var out: String

    @Option(help: "npy: a text file of paths, one per row.")
    var paths: String?

    @Flag(name: .customLong("labels-from-dirs"), help: "features-list: label each row by its parent folder, distractor folders excepted (docs/lists.md, \"Labels and distractors\").")
    var labelsFromDirsFlag = false
    @Flag(name: .customLong("label-from-folder"), help: .hidden)  // another spelling of --labels-from-dirs, still accepted
    var labelFromFolder = false
    var labelsFromDirs: Bool { labelsFromDirsFlag || labelFromFolder }

    @Option(help: "Record the provenance of this store (the one the file was exported from): model fingerprint, architecture, preset, flip, image list hash, random weights. The options below override it.")
    var provenanceFrom: String?

    @Option(help: "The model fingerprint to record (default: unknown).")
    var fingerprint: String?

    @Option(help: "The architecture to record (default: unknown).")
    var architecture: String?

    @Option(help: "The preprocessing preset to record (default: unknown).")
    var preset: String?

    @Flag(help: "Record that the embeddings include the flipped image.")
    var flip = false

    @Flag(help: "Record that the embeddings came from a model with random weights (reports then say their numbers mean nothing).")
    var randomWeights = false

    @Flag(help: "Compress the store (shuffle + deflate).")
    var compress = false

    func run() throws {
        try OutputFile.prepare(out, "store (--out)")
        let provenance = try recordedProvenance()
        let options = StoreWriteOptions(compress: compress)
        let source = URL(fileURLWithPath: input), store = URL(fileURLWithPath: out)
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
    }

    /// What the new store records: `--provenance-from`'s store, or "unknown", with the options
    /// given on top. Never less than it is given: `--random-weights` and a source store's
    /// random-weights mark are kept.
    func recordedProvenance() throws -> StoreProvenance {
        var p = StoreProvenance(
            modelFingerprint: "unknown", architecture: "unknown", embeddingDim: 0, preprocessingPreset: "unknown",
            flip: false, imageListSHA256: "", toolVersion: magfleetVersion, randomWeights: false, labelNames: [])
        if let provenanceFrom {
            let source = try FeatureStoreReader(url: URL(fileURLWithPath: provenanceFrom)).provenance
            p.modelFingerprint = source.modelFingerprint
            p.architecture = source.architecture
            p.preprocessingPreset = source.preprocessingPreset
            p.flip = source.flip
            p.imageListSHA256 = source.imageListSHA256
            p.toolVersion = source.toolVersion
            p.randomWeights = source.randomWeights
        }
        if let fingerprint { p.modelFingerprint = fingerprint }
        if let architecture { p.architecture = architecture }
        if let preset { p.preprocessingPreset = preset }
        if flip { p.flip = true }
        if randomWeights { p.randomWeights = true }
        return p
    }
}
