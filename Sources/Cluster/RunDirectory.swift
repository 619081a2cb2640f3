import Foundation
import Imaging

/// The files of a run directory (docs/cluster.md, "The run directory"):
///
///     lock          held by the coordinator (RunLock)
///     journal       the run's inputs and its finished shards (Journal)
///     label_names   the run's label table, one name per line: shard files number their rows'
///                   labels by it and record no names; the merge writes them into the store.
///                   Its SHA-256 is the journal's `list.labelsSHA256`.
///     shards/       one HDF5 file per finished shard (FeatureStoreShardSink)
public enum RunDirectory {
    public static func labelNamesPath(_ directory: String) -> String { directory + "/label_names" }

    /// The names as the file holds them: each followed by a newline (`ListSummary.digest`'s form).
    static func text(_ names: [String]) -> Data { Data(names.map { $0 + "\n" }.joined().utf8) }

    /// Writes the run's label names durably (temporary file, fsync, rename) unless the file
    /// holds them already.
    public static func writeLabelNames(_ names: [String], in directory: String) throws {
        let path = labelNamesPath(directory), data = text(names)
        if FileManager.default.contents(atPath: path) == data { return }
        try Durable.write(data, to: path + ".tmp")
        guard rename(path + ".tmp", path) == 0 else {
            throw ClusterError.journal(path: path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        try Durable.fsyncDirectory(directory)
    }

    /// Reads the run's label names, checked against the journal's record of them.
    /// - Throws: `ClusterError.journal` when the file is missing or is not the journal's table.
    public static func readLabelNames(in directory: String, header: Journal.Header) throws -> [String] {
        let path = labelNamesPath(directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            if header.list.labels == 0 { return [] }
            throw ClusterError.journal(path: path, reason: "missing: the journal records \(header.list.labels) identities; run the coordinator on this run directory again to write it")
        }
        var names = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
        if names.last == "" { names.removeLast() }
        guard names.count == header.list.labels, ListSummary.digest(labelNames: names) == header.list.labelsSHA256 else {
            throw ClusterError.journal(path: path, reason: "holds \(names.count) names that are not the \(header.list.labels) the journal records (SHA-256 \(header.list.labelsSHA256.prefix(16))…)")
        }
        return names
    }

    /// Removes a finished run's files (the shards, the journal, the label names, the lock) and
    /// the directory itself when nothing else is in it.
    /// - Returns: the names of the files it left: ones it did not make.
    static func removeFinished(_ directory: String) throws -> [String] {
        try remove(runFiles + ["lock"], in: directory, why: "cannot remove the finished run's file")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if left.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
        return left.sorted()
    }

    /// What a run computed (all but the lock): what `--restart` clears.
    static let runFiles = ["shards", "journal", "journal.tmp", "label_names", "label_names.tmp"]

    /// Removes those of `names` that exist in `directory`; `why` starts the error's reason.
    static func remove(_ names: [String], in directory: String, why: String) throws {
        for name in names {
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw ClusterError.journal(path: path, reason: "\(why): \(error)")
            }
        }
    }
}
