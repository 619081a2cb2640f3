import Base
import Crypto
import Foundation

/// What one full pass of `ListReader` learns about a list before a run: its content hash and
/// size, its row count, its unusable rows and its label table. Memory is proportional to the
/// number of identities, not to the length of the list.
public struct ListSummary: Sendable {
    /// SHA-256 (hex) of the list file's bytes: the list's identity in a run and in the store.
    public var sha256: String
    public var byteCount: Int
    /// Rows (non-blank, non-comment lines).
    public var count: Int
    /// Rows that do not parse (they become failed rows).
    public var problems: Int
    public var rule: LabelRule
    public var labels: LabelTable
    /// Up to `sampleSize` usable rows spread over the list (the first few, then a seeded
    /// reservoir sample of the rest), for checking before a run that the images can be read.
    public var samples: [ListEntry]

    /// Streams the list once.
    /// - Throws: `ImagingError.listUnreadable`.
    public static func scan(path: String, rule: LabelRule = LabelRule(), sampleSize: Int = 16) throws(ImagingError) -> ListSummary {
        try scan(ListReader(path: path), rule: rule, sampleSize: sampleSize)
    }

    public static func scan(_ reader: ListReader, rule: LabelRule = LabelRule(), sampleSize: Int = 16) throws(ImagingError) -> ListSummary {
        var labels = LabelTable()
        var count = 0, problems = 0, usable = 0
        var samples: [ListEntry] = []
        let head = sampleSize / 4
        var rng = SeededGenerator(seed: 0x6d61_6766_6c65_6574)  // a fixed seed: the same list gives the same sample
        while let entry = try reader.next() {
            count += 1
            labels.add(rule.identity(of: entry))
            guard entry.problem == nil else { problems += 1; continue }
            usable += 1
            if samples.count < sampleSize {
                samples.append(entry)
            } else if sampleSize > head {
                // Reservoir sampling over the rows after the head.
                let j = Int(rng.next() % UInt64(usable - head))
                if j < sampleSize - head { samples[head + j] = entry }
            }
        }
        return ListSummary(sha256: reader.sha256, byteCount: reader.bytesRead,
                           count: count, problems: problems, rule: rule, labels: labels, samples: samples)
    }

    /// The store label of a row.
    public func label(of entry: ListEntry) -> Int64 { labels.label(of: rule.identity(of: entry)) }

    /// SHA-256 (hex) of the label names, one per line: what a run records of its label table.
    public static func digest(labelNames: some Sequence<String>) -> String {
        var hasher = SHA256()
        for name in labelNames { hasher.update(data: Data((name + "\n").utf8)) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 (hex) of the first `length` bytes of the file at `path` (nil when it is shorter),
    /// and whether those bytes end on a line end: to tell a list that only grew.
    public static func prefixDigest(path: String, length: Int) -> (sha256: String, atLineEnd: Bool)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        var left = length
        var last: UInt8 = 0x0A
        while left > 0 {
            guard let chunk = try? handle.read(upToCount: min(left, 1 << 20)), !chunk.isEmpty else { return nil }
            hasher.update(data: chunk)
            last = chunk.last!
            left -= chunk.count
        }
        let next = (try? handle.read(upToCount: 1)) ?? Data()
        // The prefix's last line is whole when the prefix ends a line, or the file's next byte does.
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), last == 0x0A || next.isEmpty || next.first == 0x0A)
    }
}
