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

/// One entry of the image list.
public struct ShardItem: Sendable, Equatable {
    public var index: UInt64
    public var path: String
    public init(index: UInt64, path: String) {
        self.index = index
        self.path = path
    }
}

/// A shard waiting or leased, with its history in this coordinator incarnation.
public struct Shard: Sendable {
    public var key: ShardKey
    public var items: [ShardItem]
    /// Leases issued so far (the next Assign carries attempts + 1).
    public var attempts: UInt32 = 0
    /// Leases lost to an expired deadline or a vanished worker.
    public var losses: UInt32 = 0

    public init(items: [ShardItem]) {
        precondition(!items.isEmpty, "a shard has at least one item")
        key = ShardKey(first: items[0].index, count: UInt32(items.count))
        self.items = items
    }
}

/// One image's outcome.
public struct ShardRow: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case embedding([Float])
        case failure(String)
    }
    public var index: UInt64
    public var path: String
    public var outcome: Outcome
    public init(index: UInt64, path: String, outcome: Outcome) {
        self.index = index
        self.path = path
        self.outcome = outcome
    }
}

/// A finished shard: one row per item, in index order.
public struct ShardResult: Sendable, Equatable {
    public var key: ShardKey
    public var dim: Int
    public var rows: [ShardRow]
    public init(key: ShardKey, dim: Int, rows: [ShardRow]) {
        self.key = key
        self.dim = dim
        self.rows = rows
    }
    public var failedCount: Int { rows.filter { if case .failure = $0.outcome { return true } else { return false } }.count }
}

/// Milliseconds on a monotonic clock. The state machines take `now` in these units.
public typealias Millis = Int64

public enum MonotonicClock {
    public static func now() -> Millis { Millis(clock_gettime_nsec_np_portable() / 1_000_000) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func clock_gettime_nsec_np_portable() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
