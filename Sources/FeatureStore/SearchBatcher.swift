import Foundation

/// Searches for many concurrent callers on one scanning thread. Requests that arrive while a
/// scan runs wait for the next one, and all waiting requests with the same filter share it:
/// one pass over the embeddings (one `sgemm`) answers them all. Each request gets exactly the
/// neighbours a search of its own would give (the top K of a larger K, cut to its K, under the
/// same total order of score then row).
///
/// Sendable: its state is guarded by `condition`.
public final class SearchBatcher: @unchecked Sendable {
    public let index: NearestNeighbors
    /// At most this many queries share one scan.
    public let maxBatch: Int

    private struct Pending {
        var queries: [Float]
        var top: Int
        var filter: NeighborFilter
        var excluding: [Int?]
        var done: @Sendable (Result<[[Neighbor]], FeatureStoreError>) -> Void
    }

    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var stopped = false
    private var scans = 0
    private var answered = 0
    private var thread: Thread?

    /// Starts the scanning thread.
    public init(index: NearestNeighbors, maxBatch: Int = 256) {
        self.index = index
        self.maxBatch = max(1, maxBatch)
        let thread = Thread { self.loop() }  // holds self until stop()
        thread.name = "magfleet-search"
        self.thread = thread
        thread.start()
    }

    /// Scans run so far, and the queries they answered.
    public var statistics: (scans: Int, queries: Int) { condition.withLock { (scans, answered) } }

    /// The same as `NearestNeighbors.search`, answered by the next shared scan.
    public func search(_ queries: [Float], top: Int, filter: NeighborFilter = .init(), excluding: [Int?] = []) async throws(FeatureStoreError) -> [[Neighbor]] {
        let dim = index.dim
        guard queries.count % dim == 0, !queries.isEmpty else { throw .badQuery("query has \(queries.count) values, not a positive multiple of dim \(dim)") }
        guard excluding.isEmpty || excluding.count == queries.count / dim else { throw .badQuery("\(excluding.count) excluded rows for \(queries.count / dim) queries") }
        let result: Result<[[Neighbor]], FeatureStoreError> = await withCheckedContinuation { continuation in
            let item = Pending(queries: queries, top: top, filter: filter, excluding: excluding) { continuation.resume(returning: $0) }
            condition.withLock {
                if stopped {
                    item.done(.failure(.badQuery("the search service is stopping")))
                    return
                }
                pending.append(item)
                condition.signal()
            }
        }
        return try result.get()
    }

    /// Answers what is waiting, then ends the scanning thread.
    public func stop() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            if pending.isEmpty && stopped {
                condition.unlock()
                return
            }
            // Take the first request's filter group, up to maxBatch queries.
            let filter = pending[0].filter
            var batch: [Pending] = [], rest: [Pending] = [], queries = 0
            for item in pending {
                let n = item.queries.count / index.dim
                if item.filter == filter, batch.isEmpty || queries + n <= maxBatch {
                    batch.append(item)
                    queries += n
                } else {
                    rest.append(item)
                }
            }
            pending = rest
            condition.unlock()
            run(batch, filter: filter)
            condition.withLock {
                scans += 1
                answered += queries
            }
        }
    }

    private func run(_ batch: [Pending], filter: NeighborFilter) {
        let top = batch.map(\.top).max() ?? 1
        var queries: [Float] = [], excluding: [Int?] = []
        let anyExcluded = batch.contains { !$0.excluding.isEmpty }
        for item in batch {
            queries += item.queries
            if anyExcluded {
                excluding += item.excluding.isEmpty ? Array(repeating: nil, count: item.queries.count / index.dim) : item.excluding
            }
        }
        do {
            let results = try index.search(queries, top: top, filter: filter, excluding: excluding)
            var start = 0
            for item in batch {
                let n = item.queries.count / index.dim
                item.done(.success(results[start..<(start + n)].map { Array($0.prefix(item.top)) }))
                start += n
            }
        } catch {
            for item in batch { item.done(.failure(error)) }
        }
    }
}
