import Foundation
import Wire

/// Computes one leased shard: loads each image (a failure stays that image's result), embeds
/// the loadable ones in batches, and builds the Result message. Runs on the compute thread.
public final class WorkerPipeline {
    public let embedder: FaceEmbedder
    public let loader: ImageLoader
    /// Prepended to every list path (this worker's mount point of the shared storage).
    public let root: String?
    public let batchSize: Int

    public init(embedder: FaceEmbedder, loader: ImageLoader, root: String?, batchSize: Int = 32) {
        precondition(batchSize > 0, "batch size must be positive")
        self.embedder = embedder
        self.loader = loader
        self.root = root
        self.batchSize = batchSize
    }

    public func resolve(_ path: String) -> String {
        guard let root, !root.isEmpty else { return path }
        return root.hasSuffix("/") || path.hasPrefix("/") ? root + path : root + "/" + path
    }

    public func run(_ assignment: Assignment, shipped: Bool) -> ShardResultMessage {
        let dim = embedder.model.dim
        var result = ShardResultMessage()
        result.shardFirst = assignment.key.first
        result.shardCount = assignment.key.count
        result.attempt = assignment.attempt
        result.dim = UInt32(dim)
        var embeddings = [UInt8]()
        embeddings.reserveCapacity(assignment.items.count * dim * 4)
        var batch: [Float] = []
        var batchIndices: [UInt64] = []

        func flush() {
            guard !batchIndices.isEmpty else { return }
            do {
                let out = try embedder.embed(batch, count: batchIndices.count)
                guard out.count == batchIndices.count * dim else {
                    throw ClusterError.embedder("returned \(out.count) floats for \(batchIndices.count) x \(dim)")
                }
                result.indices += batchIndices
                for x in out { withUnsafeBytes(of: x.bitPattern.littleEndian) { embeddings += $0 } }
            } catch {
                for index in batchIndices {
                    result.failures.append(Failure.with { $0.index = index; $0.reason = "embedding failed: \(error)" })
                }
            }
            batch.removeAll(keepingCapacity: true)
            batchIndices.removeAll(keepingCapacity: true)
        }

        for item in assignment.items {
            let source: ImageSource
            if shipped {
                guard !item.data.isEmpty else {
                    result.failures.append(Failure.with { $0.index = item.index; $0.reason = "the coordinator shipped no bytes (it could not read \(item.path))" })
                    continue
                }
                source = .bytes([UInt8](item.data), name: item.path)
            } else {
                source = .path(resolve(item.path))
            }
            switch loader.load(source) {
            case let .success(input) where input.count == embedder.inputLength:
                batch += input
                batchIndices.append(item.index)
                if batchIndices.count == batchSize { flush() }
            case let .success(input):
                result.failures.append(Failure.with { $0.index = item.index; $0.reason = "preprocessing gave \(input.count) floats, the model takes \(embedder.inputLength)" })
            case let .failure(f):
                result.failures.append(Failure.with { $0.index = item.index; $0.reason = f.reason })
            }
        }
        flush()
        result.embeddings = Data(embeddings)
        return result
    }
}
