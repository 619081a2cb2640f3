import Foundation

/// Streams an image list (one entry per line; blank and `#` lines skipped; a trailing `\r` dropped)
/// without holding it in memory. An item's index counts the non-blank lines before it.
public final class ImageListReader {
    public let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var position = 0
    private var atEnd = false
    private var nextIndex: UInt64 = 0

    public init(path: String) throws {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw ClusterError.list(path: path, reason: "cannot open for reading")
        }
        self.path = path
        handle = h
    }

    deinit { try? handle.close() }

    /// The next item, or nil at the end of the list.
    public func next() throws -> ShardItem? {
        while true {
            guard let line = try nextLine() else { return nil }
            var bytes = line
            if bytes.last == 13 { bytes.removeLast() }
            // Blank lines and `#` comments are not items (as in Imaging's ImageList).
            guard let firstVisible = bytes.first(where: { $0 != 32 && $0 != 9 }), firstVisible != 35 else { continue }
            defer { nextIndex += 1 }
            return ShardItem(index: nextIndex, path: String(decoding: bytes, as: UTF8.self))
        }
    }

    private func nextLine() throws -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[position...].firstIndex(of: 10) {
                let line = buffer[position..<nl]
                position = nl + 1
                return line
            }
            if atEnd {
                if position < buffer.count {
                    let line = buffer[position...]
                    position = buffer.count
                    return line
                }
                return nil
            }
            buffer.removeFirst(position)
            position = 0
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch {
                throw ClusterError.list(path: path, reason: "read failed: \(error)")
            }
            if let chunk, !chunk.isEmpty { buffer.append(contentsOf: chunk) } else { atEnd = true }
        }
    }

    /// Counts the items of a list in one streaming pass.
    public static func count(path: String) throws -> UInt64 {
        let reader = try ImageListReader(path: path)
        var n: UInt64 = 0
        while try reader.next() != nil { n += 1 }
        return n
    }
}

/// Cuts the streamed list into shards of `shardSize`, skipping what the journal says is done.
/// A shard of which only single images are done (it was split before a restart) comes back
/// as its undone single-image shards.
public final class ShardSource {
    let reader: ImageListReader
    let shardSize: Int
    let done: Set<ShardKey>
    public private(set) var exhausted = false

    public init(reader: ImageListReader, shardSize: Int, done: Set<ShardKey>) {
        precondition(shardSize > 0, "shard size must be positive")
        self.reader = reader
        self.shardSize = shardSize
        self.done = done
    }

    /// The next shards to do (one, or several singles), or [] at the end.
    public func next() throws -> [Shard] {
        while !exhausted {
            var items: [ShardItem] = []
            items.reserveCapacity(shardSize)
            while items.count < shardSize, let item = try reader.next() { items.append(item) }
            if items.count < shardSize { exhausted = true }
            if items.isEmpty { return [] }
            let shard = Shard(items: items)
            if done.contains(shard.key) { continue }
            let singles = items.filter { !done.contains(ShardKey(first: $0.index, count: 1)) }
            if singles.count == items.count { return [shard] }
            if singles.isEmpty { continue }
            return singles.map { Shard(items: [$0]) }
        }
        return []
    }
}
