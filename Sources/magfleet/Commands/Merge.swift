import ArgumentParser
import FeatureStore
import Foundation

/// `magfleet merge SHARDS... --out STORE`: shard files into one store, checked and atomic.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge shard files into one feature store, ordered by global index.",
        discussion: """
            Refuses, naming the shard, when shards differ in model fingerprint, dim, preset, flip, \
            image list or labels, or when a global index is duplicated or missing. Streams in \
            chunks; the output appears only when complete. A shard whose checksum fails or whose \
            embeddings hold NaN is refused by name. Temporary files of --out that a killed merge \
            left are removed first.

            Examples:
              magfleet merge features.h5.run/shards/*.h5 --out merged.h5
            """)

    @Argument(help: "The shard files.")
    var shards: [String]

    @Option(help: "The store to write.")
    var out: String

    @Flag(help: "Compress the store (shuffle + deflate).")
    var compress = false

    func run() throws {
        try OutputFile.prepare(out, "store (--out)")
        let start = DispatchTime.now()
        for path in PartialFile.removeStale(for: URL(fileURLWithPath: out)).removed {
            Console.error("removed \(path), a temporary file a killed writer left")
        }
        let merger = StoreMerger(
            shards: shards.map { URL(fileURLWithPath: $0) }, output: URL(fileURLWithPath: out),
            options: StoreWriteOptions(compress: compress))
        let summary = try merger.merge()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print("merged \(summary.shards) shards: \(summary.rows) rows (\(summary.okRows) ok) into \(out) in \(String(format: "%.2f", seconds)) s")
    }
}
