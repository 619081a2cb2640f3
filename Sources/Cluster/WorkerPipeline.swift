import Foundation
import Imaging
import Wire
import ClusterCore

/// Computes one leased shard: loads each image (a failure stays that image's result), embeds
/// the loadable ones in batches, and builds the Result message. Runs on the compute thread.
public final class WorkerPipeline {
    public let embedder: FaceEmbedder
    public let loader: ImageLoader
    /// This worker's mount point of the shared storage, joined to every item path (`ImageRoot`).
    public let root: String?
    public let batchSize: Int

    public init(embedder: FaceEmbedder, loader: ImageLoader, root: String?, batchSize: Int = 32) {
        precondition(batchSize > 0, "batch size must be positive")
        self.embedder = embedder
        self.loader = loader
        self.root = root
        self.batchSize = batchSize
    }

    /// - Parameters:
    ///   - step: called as each step begins: reading one image, or embedding one batch (the
    ///     worker reports how long its compute thread sits in one step: README 4.5).
    ///   - progress: called after each batch with the rows finished so far.
    public func run(_ assignment: Assignment, shipped: Bool, step: () -> Void = {},
                    progress: (Int) -> Void = { _ in }) -> ShardResultMessage {
        let dim = embedder.model.dim
        var result = ShardResultMessage()
        result.shardFirst = assignment.key.first
        result.shardCount = assignment.key.count
        result.attempt = assignment.attempt
        result.dim = UInt32(dim)
        var embeddings = [Float]()
        embeddings.reserveCapacity(assignment.items.count * dim)
        var batch: [Float] = []
        var batchIndices: [UInt64] = []

        func fail(_ index: UInt64, _ failure: RowFailure) {
            result.failures.append(Failure.with { $0.index = index; $0.category = failure.category; $0.reason = failure.reason })
        }
        func flush() {
            guard !batchIndices.isEmpty else { return }
            step()
            do {
                let out = try embedder.embed(batch, count: batchIndices.count)
                guard out.count == batchIndices.count * dim else {
                    throw EmbedderError("returned \(out.count) floats for \(batchIndices.count) x \(dim)")
                }
                // A non-finite embedding is never sent as one: it fails its row, with the reason.
                for (r, index) in batchIndices.enumerated() {
                    let row = out[(r * dim)..<((r + 1) * dim)]
                    if row.allSatisfy(\.isFinite) {
                        result.indices.append(index)
                        embeddings += row
                    } else {
                        fail(index, RowFailure(category: RowFailure.Category.nonFinite,
                                               reason: "the model gave a non-finite embedding (NaN or infinity)"))
                    }
                }
            } catch {
                for index in batchIndices { fail(index, RowFailure(category: RowFailure.Category.embedding, reason: "embedding failed: \(error)")) }
            }
            batch.removeAll(keepingCapacity: true)
            batchIndices.removeAll(keepingCapacity: true)
            progress(result.indices.count + result.failures.count)
        }

        for item in assignment.items {
            if item.hasUnreadable {
                fail(item.index, RowFailure(category: item.unreadable.category, reason: item.unreadable.reason))
                continue
            }
            step()
            let input = ImageInput(path: shipped ? item.path : ImageRoot.join(root, item.path),
                                   bytes: shipped ? [UInt8](item.data) : nil, landmarks: item.landmarks)
            switch loader.load(input) {
            case let .success(input) where input.count == embedder.inputLength:
                batch += input
                batchIndices.append(item.index)
                if batchIndices.count == batchSize { flush() }
            case let .success(input):
                fail(item.index, RowFailure(category: RowFailure.Category.embedding,
                                            reason: "preprocessing gave \(input.count) floats, the model takes \(embedder.inputLength)"))
            case let .failure(f):
                fail(item.index, f)
            }
        }
        flush()
        result.setEmbeddings(embeddings)
        return result
    }
}
