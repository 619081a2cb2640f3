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
            if let token = split(item.path).token { tokens.insert(token) }
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
        return ListSummary(sha256: sha, count: count, labelNames: names, idOfName: idOf)
    }

    /// The image path and store label of one list line (as the coordinator hands it out).
    public func resolve(_ line: String) -> (path: String, label: Int64) {
        let (path, token) = Self.split(line)
        return (path, token.flatMap { idOfName[$0] } ?? -1)
    }

    /// The image path and the label as written on a list line (nil when it has none or it
    /// is -1), by Imaging's list parser.
    static func split(_ line: String) -> (path: String, token: String?) {
        let list = ImageList.parse(line)
        guard let entry = list.first else { return (line, nil) }
        guard let label = entry.label else { return (entry.path, nil) }
        let token = list.labelName(label) ?? String(label)
        return (entry.path, token == "-1" ? nil : token)
    }
}
