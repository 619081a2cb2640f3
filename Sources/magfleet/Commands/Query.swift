import ArgumentParser
import FeatureStore
import IResNet
import Imaging
import Foundation
import ClusterCore

/// `magfleet query STORE ...`: exact cosine nearest neighbours in a feature store.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the nearest stored faces (cosine, exact) for a stored path or row, a vector, or a file of queries.",
        discussion: """
            Maps the store's embeddings (no copy when the file is in the page cache), then scores \
            every query against all ok rows in one scan on every core: sgemv for one query, sgemm \
            for a batch. Results are exact float32 cosine; each --path/--index/#ROW query leaves \
            out its own row.

            --queries FILE takes a .npy float matrix [Q, D], or a text file with one query per \
            line: a stored path, `#ROW` for a stored row, or D numbers separated by spaces or commas.

            --benchmark N loads the store, then times N single queries and N queries batched, and \
            prints medians in milliseconds (see docs/performance.md).

            Examples:
              magfleet query features.h5 --path person_000/0.jpg --top 5
              magfleet query features.h5 --index 0 --label -1 --json
              magfleet query features.h5 --benchmark 50
            """)

    @Argument(help: "The feature store (.h5).")
    var store: String

    @Option(help: "Query with the stored embedding of this image path.")
    var path: String?

    @Option(help: "Query with the stored embedding of this row.")
    var index: Int?

    @Option(parsing: .unconditional, help: "Query with this vector: D numbers separated by commas (may start with a minus).")
    var vector: String?

    @Option(help: "Run many queries from a file (.npy matrix or text, see below).")
    var queries: String?

    @Option(help: "Query with a new image, decoded and embedded with --model (with the store's preprocessing; it must be the model that made the store).")
    var image: String?

    @Option(help: "The model checkpoint that embeds --image.")
    var model: String?

    @Flag(help: "Embed --image with the exact path (im2col + GEMM for every convolution) instead of Winograd.")
    var exact = false

    @Option(name: [.customShort("k"), .long], help: "Neighbours per query.")
    var top = 10

    @Option(help: "Only return rows whose embedding norm is at least this.")
    var minNorm: Float?

    @Option(parsing: .unconditionalSingleValue, help: "Only return rows with this label (a name from /label_names, or an id; -1 for unlabeled). Repeatable.")
    var label: [String] = []

    @Flag(help: "Keep the query's own row in its results (left out by default for --path/--index).")
    var includeSelf = false

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Time N single and N batched queries instead of answering.")
    var benchmark: Int?

    func validate() throws {
        let sources = [path != nil, index != nil, vector != nil, queries != nil, image != nil].filter { $0 }.count
        if benchmark == nil, sources != 1 {
            throw ValidationError("give exactly one of --path, --index, --vector, --queries, --image")
        }
        if top < 1 { throw ValidationError("--top must be at least 1") }
        if image != nil, model == nil { throw ValidationError("--image needs --model") }
    }

    struct Answer: Codable {
        var query: String
        var neighbors: [Neighbor]
    }

    func run() throws {
        let loadStart = DispatchTime.now()
        let reader = try FeatureStoreReader(url: URL(fileURLWithPath: store))
        let index = try NearestNeighbors(reader: reader)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart.uptimeNanoseconds) / 1e9
        if let benchmark {
            try runBenchmark(index, count: benchmark, loadSeconds: loadSeconds)
            return
        }
        let (names, vectors, ownRows) = try resolveQueries(reader: reader, index: index)
        let labels = try labelFilter(reader.labelNames)
        // One scan for every query; each leaves out its own row (unless --include-self).
        let filter = NeighborFilter(minNorm: minNorm, labels: labels)
        let results = try index.search(vectors, top: top, filter: filter, excluding: includeSelf ? [] : ownRows)
        let answers = zip(names, results).map { Answer(query: $0, neighbors: $1) }
        if json { try Console.printJSON(answers) } else { print(renderTable(answers)) }
    }

    private func labelFilter(_ names: [String]) throws -> Set<Int64>? {
        if label.isEmpty { return nil }
        return Set(try label.map { text -> Int64 in
            if let i = names.firstIndex(of: text) { return Int64(i) }
            if let id = Int64(text), id >= -1 { return id }
            throw FeatureStoreError.badQuery("label \(text.debugDescription) is neither a name in /label_names nor an id")
        })
    }

    /// Decodes `path` with the preprocessing the store records (preset and flip), embeds it
    /// with `--model` through the same adapters a worker uses, and returns the raw embedding.
    /// Refuses a model that did not make the store.
    private func embedImage(_ path: String, reader: FeatureStoreReader) throws -> [Float] {
        guard let model else { throw FeatureStoreError.badQuery("--image needs --model, the checkpoint that made the store") }
        let recorded = reader.provenance
        guard let preset = Preprocessing.Preset(rawValue: recorded.preprocessingPreset) else {
            throw FeatureStoreError.badQuery("the store's preprocessing \(recorded.preprocessingPreset.debugDescription) is not one this build knows")
        }
        let network = try IResNetEmbedder.queryNetwork(model: model, for: recorded, exact: exact)
        let preprocessing = Preprocessing(preset: preset, flip: recorded.flip)
        let input = try ImagingLoader(preprocessing: preprocessing).load(ImageInput(path: path)).get()
        return try IResNetEmbedder(network: network, preprocessing: preprocessing).embed(input, count: 1)
    }

    /// The queries as (display names, `q x dim` vectors, the stored row each came from).
    private func resolveQueries(reader: FeatureStoreReader, index: NearestNeighbors) throws -> ([String], [Float], [Int?]) {
        let d = index.dim
        // One path: a linear scan; a file of them: the path table (built once).
        let many = queries != nil
        func lookup(_ path: String) -> Int? { many ? index.position(ofPath: path) : index.scanPosition(ofPath: path) }
        func stored(position: Int?, _ what: String) throws -> ([Float], Int) {
            guard let position else { throw FeatureStoreError.badQuery("\(what) is not an ok row of \(store)") }
            return (index.unitEmbedding(at: position), index.row(at: position))
        }
        func stored(path: String, _ what: String) throws -> ([Float], Int) {
            if let position = lookup(path) { return (index.unitEmbedding(at: position), index.row(at: position)) }
            throw FeatureStoreError.badQuery(try Self.notFound(path, what, in: reader, store: store))
        }
        if let path {
            let (v, row) = try stored(path: path, "path \(path.debugDescription)")
            return ([path], v, [row])
        }
        if let row = self.index {
            let (v, r) = try stored(position: index.position(ofRow: row), "row \(row)")
            return (["#\(row)"], v, [r])
        }
        if let image {
            return (["image \(image)"], try embedImage(image, reader: reader), [nil])
        }
        if let vector {
            guard let v = QueryFile.vector(Substring(vector), dim: d) else {
                throw FeatureStoreError.badQuery("--vector needs \(d) numbers separated by commas")
            }
            return (["vector"], v, [nil])
        }
        let file = URL(fileURLWithPath: queries!)
        if file.pathExtension == "npy" {
            let matrix = try NumpyArray.read(file)
            guard matrix.columns == d else { throw FeatureStoreError.badQuery("\(file.path) has \(matrix.columns) columns, the store's dim is \(d)") }
            return ((0..<matrix.rows).map { "\(file.lastPathComponent)[\($0)]" }, matrix.values, Array(repeating: nil, count: matrix.rows))
        }
        var names: [String] = [], vectors: [Float] = [], rows: [Int?] = []
        for line in QueryFile.parse(try String(contentsOf: file, encoding: .utf8), dim: d) {
            switch line.query {
            case let .vector(v):
                names.append("\(file.lastPathComponent):\(line.number)"); vectors += v; rows.append(nil)
            case let .row(row):
                let (v, r) = try stored(position: index.position(ofRow: row), "row \(row) (line \(line.number))")
                names.append(line.text); vectors += v; rows.append(r)
            case let .path(path):
                let (v, r) = try stored(path: path, "path \(path.debugDescription) (line \(line.number))")
                names.append(line.text); vectors += v; rows.append(r)
            }
        }
        return (names, vectors, rows)
    }

    /// Why a path has no embedding to query with: it is a failed row (with its reason), or it
    /// is not in the store at all (stored paths are the list's, relative to its root; a path
    /// that ends with a stored one is named as what was probably meant).
    static func notFound(_ path: String, _ what: String, in reader: FeatureStoreReader, store: String) throws -> String {
        let paths = try reader.paths()
        if let row = paths.firstIndex(of: path) {
            var reason = ""
            if case let .failed(text) = try reader.statuses()[row] { reason = " (\(text))" }
            return "\(what) is row \(row) of \(store), a failed row\(reason): it has no embedding (magfleet info \(store) lists the failures)"
        }
        var message = "\(what) is not in \(store); stored paths are as the image list gives them, relative to the run's --root"
        if let meant = paths.first(where: { !$0.isEmpty && path.hasSuffix("/" + $0) }) {
            message += " (did you mean \(meant.debugDescription)?)"
        } else if let example = paths.first {
            message += ", e.g. \(example.debugDescription)"
        }
        return message
    }

    private func renderTable(_ answers: [Answer]) -> String {
        var lines: [String] = []
        for answer in answers {
            lines.append("query \(answer.query)")
            lines.append("  rank   score     norm  label            row  path")
            for (k, n) in answer.neighbors.enumerated() {
                let label = n.labelName ?? (n.label < 0 ? "-" : "\(n.label)")
                lines.append("  \(pad(k + 1, 4))  \(String(format: "%6.4f", n.score))  \(String(format: "%7.3f", n.norm))  \(label.padding(toLength: 12, withPad: " ", startingAt: 0))  \(pad(n.row, 8))  \(n.path)")
            }
        }
        return lines.joined(separator: "\n")
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let s = String(value)
        return String(repeating: " ", count: max(0, width - s.count)) + s
    }

    /// Times single queries (stored rows spread over the store) and the same queries batched.
    private func runBenchmark(_ index: NearestNeighbors, count: Int, loadSeconds: Double) throws {
        let n = index.count, d = index.dim
        let positions = (0..<count).map { ($0 * 7919) % n }
        var all = [Float]()
        for p in positions { all += index.unitEmbedding(at: p) }
        // Each single query follows a streaming read of the same floats (the bandwidth floor),
        // so that both see the same load.
        var singles: [Double] = [], floors: [Double] = []
        for q in 0..<count {
            floors.append(index.streamingReadSeconds() * 1e3)
            let vector = Array(all[(q * d)..<((q + 1) * d)])
            let start = DispatchTime.now()
            _ = try index.search(vector, top: top)
            singles.append(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6)
        }
        let start = DispatchTime.now()
        _ = try index.search(all, top: top)
        let batchMs = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
        let ratios = zip(singles, floors).map { $0 / $1 }.sorted()
        singles.sort()
        floors.sort()
        let median = singles[singles.count / 2], p90 = singles[min(singles.count - 1, singles.count * 9 / 10)]
        print("store rows=\(n) dim=\(d) load_s=\(String(format: "%.3f", loadSeconds)) mapped=\(index.isMapped)")
        print("single_query_ms min=\(String(format: "%.2f", singles[0])) median=\(String(format: "%.2f", median)) p90=\(String(format: "%.2f", p90)) n=\(count) top=\(top)")
        print("streaming_read_ms median=\(String(format: "%.2f", floors[floors.count / 2])) min=\(String(format: "%.2f", floors[0])) (every float once, same threads)")
        print("single_over_floor median=\(String(format: "%.2f", ratios[ratios.count / 2]))")
        print("batched_ms total=\(String(format: "%.1f", batchMs)) per_query=\(String(format: "%.3f", batchMs / Double(count))) n=\(count)")
    }
}
