import Crypto
import Foundation
import Imaging

/// What the coordinator learns about an image list in one streaming pass before a run: the
/// SHA-256 of its bytes (recorded in the store), its item count, and the label table that
/// turns each line's label into the store's integer label. Memory is proportional to the
/// number of identities, not to the length of the list.
///
/// Labels follow Imaging's list format. A line without a label, or with the label `-1`, is
/// unlabelled (a distractor, label -1). When every label is a non-negative integer, the
/// integers are the ids and their decimal strings the names; otherwise every label is a name
/// and ids number the names in sorted order.
public struct ListSummary: Sendable {
    public var sha256: String
    public var count: UInt64
    /// The store's /label_names: the name of id i at position i.
    public var labelNames: [String]
    private var idOfName: [String: Int64]
    private var numeric: Bool

    /// Reads the list at `path` twice, streaming: once for the hash, once for the labels.
    public static func scan(path: String) throws -> ListSummary {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ClusterError.list(path: path, reason: "cannot open for reading")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        } catch {
            throw ClusterError.list(path: path, reason: "read failed: \(error)")
        }
        let sha = hasher.finalize().map { String(format: "%02x", $0) }.joined()

        var tokens = Set<String>()
        var count: UInt64 = 0
        let reader = try ImageListReader(path: path)
        while let item = try reader.next() {
            count += 1
            if let token = labelToken(item.path) { tokens.insert(token) }
        }
        let numeric = tokens.allSatisfy { Int64($0).map { $0 >= 0 } ?? false }
        var names: [String]
        if numeric {
            let maxID = tokens.compactMap { Int64($0) }.max() ?? -1
            names = maxID >= 0 ? (0...maxID).map(String.init) : []
        } else {
            names = tokens.sorted()
        }
        let idOf = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, Int64($0)) })
        return ListSummary(sha256: sha, count: count, labelNames: names, idOfName: idOf, numeric: numeric)
    }

    /// The image path and store label of one list line (as the coordinator hands it out).
    public func resolve(_ line: String) -> (path: String, label: Int64) {
        let list = ImageList.parse(line)
        guard let entry = list.first else { return (line, -1) }
        guard let token = Self.token(of: entry, in: list) else { return (entry.path, -1) }
        return (entry.path, idOfName[token] ?? -1)
    }

    /// The label as written on the line, or nil when it has none or it is -1.
    static func labelToken(_ line: String) -> String? {
        let list = ImageList.parse(line)
        guard let entry = list.first else { return nil }
        return token(of: entry, in: list)
    }

    private static func token(of entry: ImageList.Entry, in list: ImageList) -> String? {
        guard let label = entry.label else { return nil }
        let token = list.labelName(label) ?? String(label)
        return token == "-1" ? nil : token
    }
}
