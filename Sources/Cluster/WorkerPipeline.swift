import Dispatch
import Foundation
import Imaging
import Wire
import ClusterCore

/// Computes one leased shard: loads each image (a failure stays that image's result), embeds
/// the loadable ones in batches, and builds the Result message. Runs on the compute thread;
/// the images of the next batch are decoded on a helper thread while the current one embeds.
public final class WorkerPipeline {
    public let embedder: FaceEmbedder
    public let loader: ImageLoader
    /// This worker's mount point of the shared storage, joined to every item path (`ImageRoot`).
    public let root: String?
    /// How the batch size is set: fixed, or chosen by timing the first batches.
    public let sizing: BatchSizing
    /// Called once, on the compute thread, when a calibrated batch size is chosen: the size and
    /// the measured images per second of each candidate.
    public var onCalibrated: ((Int, [(size: Int, imagesPerSecond: Double)]) -> Void)?
    /// The images of the next batch are decoded here (one at a time: the loader is used by
    /// this queue only).
    private let decodeQueue = DispatchQueue(label: "magfleet-decode")
    private var calibration: BatchCalibration?

    /// The batch size now: the fixed one, the calibrated one once chosen, else the next
    /// candidate being timed.
    public var batchSize: Int {
        switch sizing {
        case let .fixed(n): n
        case .calibrated: calibration!.nextSize
        }
    }

    public init(embedder: FaceEmbedder, loader: ImageLoader, root: String?, sizing: BatchSizing) {
        if case let .fixed(n) = sizing { precondition(n > 0, "batch size must be positive") }
        self.embedder = embedder
        self.loader = loader
        self.root = root
        self.sizing = sizing
        if case let .calibrated(candidates, rounds) = sizing {
            calibration = BatchCalibration(candidates: candidates, rounds: rounds)
        }
    }

    public convenience init(embedder: FaceEmbedder, loader: ImageLoader, root: String?, batchSize: Int = 32) {
        self.init(embedder: embedder, loader: loader, root: root, sizing: .fixed(batchSize))
    }

    /// The batch size for the next batch to load.
    private func takeSize() -> Int {
        switch sizing {
        case let .fixed(n): n
        case .calibrated: calibration!.takeSize()
        }
    }

    /// Images loaded for one batch, in item order, and the items that failed to load.
    struct Group: @unchecked Sendable {  // @unchecked: handed from the decode queue to the compute thread once, after a semaphore.
        var batch: [Float] = []
        var indices: [UInt64] = []
        var failures: [(UInt64, RowFailure)] = []
        /// The first item after this group.
        var end = 0
    }

    /// Loads items from `start` until `size` images are loaded or the shard ends.
    private func load(_ items: [Item], from start: Int, size: Int, shipped: Bool) -> Group {
        var group = Group()
        group.batch.reserveCapacity(size * embedder.inputLength)
        var i = start
        while i < items.count && group.indices.count < size {
            let item = items[i]
            i += 1
            if item.hasUnreadable {
                group.failures.append((item.index, RowFailure(category: item.unreadable.category, reason: item.unreadable.reason)))
                continue
            }
            let input = ImageInput(path: shipped ? item.path : ImageRoot.join(root, item.path),
                                   bytes: shipped ? [UInt8](item.data) : nil, landmarks: item.landmarks)
            switch loader.load(input) {
            case let .success(input) where input.count == embedder.inputLength:
                group.batch += input
                group.indices.append(item.index)
            case let .success(input):
                group.failures.append((item.index, RowFailure(category: RowFailure.Category.embedding,
                                                              reason: "preprocessing gave \(input.count) floats, the model takes \(embedder.inputLength)")))
            case let .failure(f):
                group.failures.append((item.index, f))
            }
        }
        group.end = i
        return group
    }

    /// A group being decoded on `decodeQueue`.
    final class Pending: @unchecked Sendable {  // @unchecked: `group` is written before `done` is signalled and read after waiting on it.
        var group = Group()
        let done = DispatchSemaphore(value: 0)
    }

    private func startLoading(_ items: [Item], from start: Int, shipped: Bool) -> Pending {
        let pending = Pending(), size = takeSize()
        // The queue runs one load at a time and the compute thread waits for it before the
        // next, so the loader and the pipeline's state are never used by two threads at once.
        nonisolated(unsafe) let me = self
        decodeQueue.async {
            pending.group = me.load(items, from: start, size: size, shipped: shipped)
            pending.done.signal()
        }
        return pending
    }

    /// - Parameters:
    ///   - step: called as each step begins: waiting for the next batch's images, or embedding
    ///     one batch (the worker reports how long its compute thread sits in one step: README 4.5).
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
        let items = assignment.items

        func fail(_ index: UInt64, _ failure: RowFailure) {
            result.failures.append(Failure.with { $0.index = index; $0.category = failure.category; $0.reason = failure.reason })
        }
        func embed(_ group: Group) {
            guard !group.indices.isEmpty else { return }
            step()
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let out = try embedder.embed(group.batch, count: group.indices.count)
                guard out.count == group.indices.count * dim else {
                    throw EmbedderError("returned \(out.count) floats for \(group.indices.count) x \(dim)")
                }
                calibrate(count: group.indices.count, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                // A non-finite embedding is never sent as one: it fails its row, with the reason.
                for (r, index) in group.indices.enumerated() {
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
                for index in group.indices { fail(index, RowFailure(category: RowFailure.Category.embedding, reason: "embedding failed: \(error)")) }
            }
        }

        var next: Pending? = items.isEmpty ? nil : startLoading(items, from: 0, shipped: shipped)
        while let pending = next {
            step()
            pending.done.wait()
            let group = pending.group
            // Decode the next batch while this one embeds.
            next = group.end < items.count ? startLoading(items, from: group.end, shipped: shipped) : nil
            for (index, failure) in group.failures { fail(index, failure) }
            embed(group)
            progress(result.indices.count + result.failures.count)
        }
        result.setEmbeddings(embeddings)
        return result
    }

    private func calibrate(count: Int, seconds: Double) {
        guard var c = calibration, c.chosen == nil else { return }
        c.record(count: count, seconds: seconds)
        calibration = c
        if let chosen = c.chosen { onCalibrated?(chosen, c.measured) }
    }
}

/// How a worker sizes its batches.
public enum BatchSizing: Sendable, Equatable {
    /// Always this many images per forward pass (`--batch-size N`).
    case fixed(Int)
    /// Chosen at startup by timing real batches: each candidate once to warm up, then `rounds`
    /// times, alternating; the fastest per image over its timed batches wins (`BatchCalibration`).
    case calibrated(candidates: [Int], rounds: Int)

    /// The engine's candidates: from one image to `IResNet.chunkSize` (16; larger batches
    /// run in chunks of 16 and gain nothing).
    public static let engineDefault = BatchSizing.calibrated(candidates: [1, 2, 4, 8, 16], rounds: 2)

    /// The engine's fixed per-CPU batch size, from measurements (docs/performance.md, issue
    /// 20): 1 on AMD (Zen 5, one thread: 23.3 img/s at batch 1, 21.6 at 8; Zen 4 and an
    /// AVX2-only EPYC alike), 8 elsewhere (Sapphire Rapids, two threads: ~26 at batch 8, ~20
    /// at 1). Fixed, so that every worker of a run embeds with the same batches and stores are
    /// bit-for-bit reproducible on any CPU (on PanelGEMM the fast path gives the same bits at
    /// any batch: docs/engine.md).
    public static func engineRule(cpu modelName: String) -> Int {
        modelName.contains("AMD") ? 1 : 8
    }
}

/// Chooses a batch size by timing the first batches of real work (none is wasted: the
/// candidates embed real images). Pure: the times are handed in.
public struct BatchCalibration: Sendable {
    public let candidates: [Int]
    public let rounds: Int
    /// The size once chosen.
    public private(set) var chosen: Int?
    private var handedOut = 0
    /// Per candidate: batches seen (the first is a warm-up), and the images and seconds of the
    /// timed ones. Rates are totals, not the best batch: on a shared machine the best of a
    /// few short batches is luck, and it favours the smallest batches.
    private var seen: [Int: Int] = [:]
    private var timed: [Int: (images: Int, seconds: Double)] = [:]

    public init(candidates: [Int], rounds: Int) {
        precondition(!candidates.isEmpty && candidates.allSatisfy { $0 > 0 } && rounds >= 1)
        self.candidates = candidates
        self.rounds = rounds
    }

    /// The size the next batch would get.
    public var nextSize: Int {
        if let chosen { return chosen }
        let schedule = candidates.count * (rounds + 1)
        return handedOut < schedule ? candidates[handedOut % candidates.count] : fastestSoFar
    }

    /// The size of the next batch to load: the candidates in turn, then the chosen one (or the
    /// fastest so far while the last measurements are still running).
    public mutating func takeSize() -> Int {
        let size = nextSize
        handedOut += 1
        return size
    }

    /// Records a batch of `count` images that took `seconds` to embed. Batches of other sizes
    /// (a shard's short last batch) are ignored.
    public mutating func record(count: Int, seconds: Double) {
        guard chosen == nil, candidates.contains(count) else { return }
        seen[count, default: 0] += 1
        if seen[count]! > 1 {
            let t = timed[count] ?? (0, 0)
            timed[count] = (t.images + count, t.seconds + seconds)
        }
        if candidates.allSatisfy({ (seen[$0] ?? 0) > rounds }) { chosen = fastestSoFar }
    }

    private var fastestSoFar: Int {
        func perImage(_ c: Int) -> Double { timed[c].map { $0.seconds / Double($0.images) } ?? .infinity }
        return candidates.min { (perImage($0), $0) < (perImage($1), $1) } ?? candidates[0]
    }

    /// Images per second of each candidate measured so far (over its timed batches).
    public var measured: [(size: Int, imagesPerSecond: Double)] {
        candidates.compactMap { c in timed[c].map { (c, Double($0.images) / $0.seconds) } }
    }
}
