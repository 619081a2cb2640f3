/// A shard is a contiguous run of list items: indices first ..< first+count.
public struct ShardKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var first: UInt64
    public var count: UInt32
    public init(first: UInt64, count: UInt32) {
        self.first = first
        self.count = count
    }
    public static func < (a: ShardKey, b: ShardKey) -> Bool { (a.first, a.count) < (b.first, b.count) }
    public var description: String { "\(first)+\(count)" }
    public var indices: Range<UInt64> { first..<(first + UInt64(count)) }
}

/// One row of the image list as the coordinator hands it out: typed, never a raw list line.
public struct ShardItem: Sendable, Equatable {
    public var index: UInt64
    /// The image path as the list writes it (joined to a root by whoever reads the file).
    public var path: String
    /// Empty, or the five landmarks x1 y1 ... x5 y5 in image pixels.
    public var landmarks: [Double]
    /// The store label (-1: a distractor), from the run's one label table.
    public var label: Int64
    /// Why the list line cannot be used (a malformed line): the row fails at the coordinator
    /// and never goes to a worker.
    public var problem: String?

    public init(index: UInt64, path: String, landmarks: [Double] = [], label: Int64 = -1, problem: String? = nil) {
        self.index = index
        self.path = path
        self.landmarks = landmarks
        self.label = label
        self.problem = problem
    }
}

/// A shard waiting or leased, with its history in this coordinator incarnation.
public struct Shard: Sendable {
    /// The rows the shard covers (its lease's name and its shard file's name).
    public var key: ShardKey
    /// The rows to compute, in index order: all of `key`'s, or, for a retry, the failed ones.
    public var items: [ShardItem]
    /// Set when these rows retry failed rows of this finished shard (`--retry-failed`): the
    /// results replace those rows of its shard file.
    public var patches: ShardKey?
    /// Leases issued so far (the next Assign carries attempts + 1).
    public var attempts: UInt32 = 0
    /// Why each lost lease was lost, oldest first (a handed-back lease is not lost).
    public var lossCauses: [LossCause] = []
    /// Leases lost so far.
    public var losses: UInt32 { UInt32(lossCauses.count) }

    /// A shard of consecutive rows.
    public init(items: [ShardItem]) {
        precondition(!items.isEmpty, "a shard has at least one item")
        key = ShardKey(first: items[0].index, count: UInt32(items.count))
        self.items = items
    }

    /// A shard named `key` that computes `items`, a subset of its rows.
    public init(key: ShardKey, items: [ShardItem], patches: ShardKey? = nil) {
        precondition(!items.isEmpty && items.allSatisfy { key.indices.contains($0.index) }, "items outside their shard")
        self.key = key
        self.items = items
        self.patches = patches
    }

    /// The items a worker computes (those whose list line parsed).
    public var computable: [ShardItem] { items.filter { $0.problem == nil } }
}

/// Why a lease was lost: the coordinator tells these apart, so the reason recorded for an
/// image that failed alone says what happened (Protocols/README.md, section 4.5).
public enum LossCause: String, Sendable, Equatable, CaseIterable {
    /// Its worker went silent past the heartbeat timeout (died, hung, partitioned).
    case vanished
    /// Its worker was alive but its compute thread sat in one step past the stall timeout.
    case stalled
    /// Nothing renewed the lease for the lease time (a worker that never reports it).
    case expired
    /// The worker refused the Assign as malformed.
    case refused
    /// The worker's Result broke the protocol (dropped).
    case invalidResult = "invalid-result"
}

/// Why one row has no embedding: a category (Protocols/README.md, section 7.4) and a reason.
public struct RowFailure: Sendable, Equatable, CustomStringConvertible {
    public var category: String
    public var reason: String
    public init(category: String, reason: String) {
        self.category = category
        self.reason = reason
    }
    public var description: String { "\(category): \(reason)" }

    /// The categories magfleet itself assigns (besides Imaging's `ImagingError.Kind` values).
    public enum Category {
        /// The list line does not parse.
        public static let malformedLine = "malformed-line"
        /// The image's leases were lost `max-losses` times (its worker died or stalled on it).
        public static let lost = "lost"
        /// The model gave a NaN or infinite embedding (the worker's check, or the coordinator's).
        public static let nonFinite = "non-finite"
        /// The embedder failed on the batch.
        public static let embedding = "embedding"
        /// A worker reported a failure without a category.
        public static let unspecified = "unspecified"
    }
}

/// One image's outcome.
public struct ShardRow: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case embedding([Float])
        case failure(RowFailure)
    }
    public var index: UInt64
    public var path: String
    public var label: Int64
    public var outcome: Outcome
    public init(index: UInt64, path: String, label: Int64 = -1, outcome: Outcome) {
        self.index = index
        self.path = path
        self.label = label
        self.outcome = outcome
    }

    public init(_ item: ShardItem, _ outcome: Outcome) {
        self.init(index: item.index, path: item.path, label: item.label, outcome: outcome)
    }

    public var failure: RowFailure? { if case let .failure(f) = outcome { f } else { nil } }
}

/// A finished shard: one row per item, in index order.
public struct ShardResult: Sendable, Equatable {
    public var key: ShardKey
    public var dim: Int
    public var rows: [ShardRow]
    /// Set when `rows` replace failed rows of this finished shard (see `Shard.patches`).
    public var patches: ShardKey?
    public init(key: ShardKey, dim: Int, rows: [ShardRow], patches: ShardKey? = nil) {
        self.key = key
        self.dim = dim
        self.rows = rows
        self.patches = patches
    }
    public var failedCount: Int { rows.filter { $0.failure != nil }.count }
    /// Failed rows by category.
    public var failuresByCategory: [String: Int] {
        rows.reduce(into: [:]) { counts, row in if let f = row.failure { counts[f.category, default: 0] += 1 } }
    }
}

/// Milliseconds on a monotonic clock (`MonotonicClock` in Base). The state machines take `now`
/// in these units; they never read a clock.
public typealias Millis = Int64

/// A log line's level, as the state machines return it (the loops own the loggers).
public enum LogLevel: Sendable, Equatable {
    case debug, info, warning, error
}

/// Why a peer's message breaks the protocol (an invalid Result): it is dropped and logged.
public struct ProtocolViolation: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Why an embedder could not embed a batch (every image of it fails with this reason).
public struct EmbedderError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "embedder: \(reason)" }
}
