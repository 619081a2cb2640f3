import ArgumentParser
import Cluster
import ClusterCore
import FeatureStore
import Foundation

/// `magfleet merge (SHARDS... | --run-dir DIR) --out STORE`: shard files into one store,
/// checked, atomic, in bounded memory with a few files open.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge shard files (or a run directory's) into one feature store, ordered by global index.",
        discussion: """
            With --run-dir, merges the shards the run's journal records, under the run's list hash \
            and label names (shard files keep no label names: the run directory has them once). \
            Refuses, naming the shard, when shards differ in model fingerprint, dim, preset, flip, \
            image list or labels, or when a global index is duplicated or missing. Holds a few \
            files open and one window of rows, whatever the number of shards; the output \
            appears only when complete. A shard whose checksum fails or whose embeddings hold \
            NaN is refused by name. Temporary files of --out that a killed merge left are \
            removed first.

            Examples:
              magfleet merge --run-dir features.h5.run --out merged.h5
            """)

    @Argument(help: "Shard files (or give --run-dir).")
    var shards: [String] = []

    @Option(help: "A run directory: merge the shards its journal records, with its label names.")
    var runDir: String?

    @Option(help: "The store to write.")
    var out: String

    @Flag(help: "Compress the store (shuffle + deflate).")
    var compress = false

    func validate() throws {
        if shards.isEmpty == (runDir == nil) { throw ValidationError("give shard files or --run-dir (one of them)") }
    }

    func run() throws {
        try OutputFile.prepare(out, "store (--out)")
        let start = DispatchTime.now()
        for path in PartialFile.removeStale(for: URL(fileURLWithPath: out)).removed {
            Console.error("removed \(path), a temporary file a killed writer left")
        }
        var merger: StoreMerger
        if let runDir {
            merger = try Self.merger(runDirectory: runDir, output: out)
        } else {
            merger = StoreMerger(shards: shards.map { URL(fileURLWithPath: $0) }, output: URL(fileURLWithPath: out))
        }
        merger.options.compress = compress
        let summary = try merger.merge()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        print("merged \(summary.shards) shards: \(summary.rows) rows (\(summary.okRows) ok) into \(out) in \(String(format: "%.2f", seconds)) s")
    }

    /// The merge of a run directory's journaled shards, under its list's hash and label names.
    static func merger(runDirectory: String, output: String) throws -> StoreMerger {
        let journal = try Journal.read(directory: runDirectory)
        let keys = journal.entries.keys.sorted()
        try checkTiling(keys, total: UInt64(journal.header.list.rows))
        let urls = keys.map { URL(fileURLWithPath: "\(runDirectory)/shards/\($0.first)-\($0.count).h5") }
        guard let first = urls.first else { throw CommandFailure("\(runDirectory): the journal records no finished shard") }
        var provenance = try FeatureStoreReader(url: first, expecting: "shard").provenance
        provenance.imageListSHA256 = journal.header.list.sha256
        provenance.labelNames = try RunDirectory.readLabelNames(in: runDirectory, header: journal.header)
        var merger = StoreMerger(shards: urls, output: URL(fileURLWithPath: output))
        merger.provenance = provenance
        merger.totalRows = journal.header.list.rows
        return merger
    }
}
