import ArgumentParser
import FeatureStore
import Foundation

/// `magfleet export STORE --format F --out PATH`.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a feature store as MagFace features.list, .npy, or an ann-benchmarks HDF5 file.",
        discussion: """
            features-list: `PATH v1 ... vD` per ok row (MagFace gen_feat.py's format).
            npy: the [N, D] float32 embeddings, failed rows as zeros, rows in store order.
            ann: train/test/neighbors/distances with distance "angular"; every N/Q-th ok row is a \
            test query, the exact top --neighbors are computed here.

            Examples:
              magfleet export features.h5 --format features-list --out features.list
              magfleet export features.h5 --format npy --out features.npy
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case featuresList = "features-list", npy, ann
    }

    @Argument(help: "The feature store (.h5).")
    var store: String

    @Option(help: "features-list, npy or ann.")
    var format: Format

    @Option(help: "The file to write.")
    var out: String

    @Option(help: "ann: number of test queries.")
    var testCount = 1000

    @Option(help: "ann: neighbours per test query.")
    var neighbors = 100

    func run() throws {
        try OutputFile.prepare(out, "export (--out)")
        let reader = try FeatureStoreReader(url: URL(fileURLWithPath: store))
        let url = URL(fileURLWithPath: out)
        switch format {
        case .featuresList:
            let n = try FeaturesList.export(reader, to: url)
            print("wrote \(n) rows to \(out)")
        case .npy:
            try NumpyArray.export(reader, to: url)
            print("wrote [\(reader.count), \(reader.dim)] float32 to \(out)")
        case .ann:
            let s = try ANNBenchmarks.export(reader, to: url, testCount: testCount, neighbors: neighbors)
            print("wrote train \(s.train), test \(s.test), \(s.neighbors) neighbours (angular) to \(out)")
        }
    }
}
