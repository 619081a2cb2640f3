import Foundation

/// The hidden name a file has while it is written, `.NAME.partial-PID-XXXXXXXX` in the
/// destination's directory (renamed to NAME once complete: docs/feature-store.md, "Writing:
/// complete or absent"), and the clean-up of those that a killed writer left behind.
public enum PartialFile {
    /// A fresh temporary location for writing `url`, naming this process.
    public static func temporary(for url: URL) -> URL {
        url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())-\(UUID().uuidString.prefix(8))")
    }

    /// The pid of the writer that named `file` (a bare file name), when it is a temporary file
    /// of `name` (or of any name, when nil).
    static func writer(of file: String, for name: String?) -> Int32? {
        guard file.hasPrefix("."), let marker = file.range(of: ".partial-", options: .backwards) else { return nil }
        let target = file[file.index(after: file.startIndex)..<marker.lowerBound]
        guard !target.isEmpty, name == nil || target == name! else { return nil }
        let parts = file[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = Int32(parts[0]), pid > 0 else { return nil }
        return pid
    }

    /// Whether process `pid` exists (on this host, in this pid namespace).
    static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes the temporary files of `url` whose writer is gone: its pid is not running, or is
    /// this process's own (a process restarted in a fresh container often gets the pid its
    /// predecessor had). Call it before this process starts writing `url`.
    ///
    /// - Returns: the paths removed, and those kept because their writer is running.
    public static func removeStale(for url: URL) -> (removed: [String], kept: [String]) {
        let directory = url.deletingLastPathComponent()
        var removed: [String] = [], kept: [String] = []
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            guard let pid = writer(of: file, for: url.lastPathComponent) else { continue }
            let path = directory.appendingPathComponent(file).path
            if pid != getpid(), isRunning(pid) {
                kept.append(path)
            } else if (try? FileManager.default.removeItem(atPath: path)) != nil {
                removed.append(path)
            }
        }
        return (removed.sorted(), kept.sorted())
    }

    /// Removes every temporary file in `directory`, whoever named it: for a directory that one
    /// process writes at a time (a run directory's shards, under the run lock).
    ///
    /// - Returns: the paths removed.
    public static func removeAll(in directory: URL) -> [String] {
        var removed: [String] = []
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] {
            guard writer(of: file, for: nil) != nil else { continue }
            let path = directory.appendingPathComponent(file).path
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed.sorted()
    }
}
