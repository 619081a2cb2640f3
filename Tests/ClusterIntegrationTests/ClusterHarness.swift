import Foundation
import Testing
import TestSupport
@testable import Cluster
import ClusterCore
import TestEmbedding

/// Real magfleet processes on loopback in a temporary directory; everything it starts is
/// killed in `shutdown()` (call it in a defer). Timers are short so each test takes seconds.
/// The port is one the kernel picked (`FreePort`), so a restarted coordinator can bind it again.
final class ClusterHarness {
    let directory: String
    let port: Int
    var processes: [String: Process] = [:]
    /// Heartbeats every 100 ms; a peer is gone after 2 s of silence: short enough that the
    /// tests of a vanished worker take seconds, long enough that a loaded 2-core machine's
    /// scheduling delays never look like a death where the timer is not what is tested.
    static let timers = ["--heartbeat-ms", "100", "--heartbeat-timeout-ms", "2000"]

    init() throws {
        directory = NSTemporaryDirectory() + "magfleet-it-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try FreePort.pick()
    }

    var endpoint: String { "tcp://127.0.0.1:\(port)" }
    var listPath: String { directory + "/list.txt" }
    var storePath: String { directory + "/store.h5" }
    var runDirectory: String { directory + "/run" }

    /// Writes `count` small image files (distinct bytes) and the list naming them.
    func makeImages(_ count: Int) throws {
        var lines: [String] = []
        for i in 0..<count {
            let path = "\(directory)/img\(i).bin"
            try Data("face \(i) \(String(repeating: "x", count: i % 7))".utf8).write(to: URL(fileURLWithPath: path))
            lines.append(path)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: listPath, atomically: true, encoding: .utf8)
    }

    /// Starts `magfleet ARGS`, logging to NAME.log in the directory.
    @discardableResult
    func start(_ name: String, _ arguments: [String], executable: String? = nil) throws -> Process {
        let p = Process()
        p.executableURL = executable.map { URL(fileURLWithPath: $0) } ?? MagfleetProcess.executable
        p.arguments = arguments
        let log = directory + "/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        processes[name] = p
        return p
    }

    /// Starts the coordinator, keeping its run directory at the end (the tests read its journal).
    func startCoordinator(_ extra: [String] = [], name: String = "coordinator") throws {
        try start(name, ["coordinator", "--list", listPath, "--out", storePath, "--run-dir", runDirectory,
                         "--bind", endpoint, "--embedder", "test", "--shard-size", "4", "--lease-ms", "20000", "--keep-run-dir"]
                  + Self.timers + extra)
    }

    func startWorker(_ name: String, _ extra: [String] = []) throws {
        try start(name, ["worker", "--connect", endpoint, "--embedder", "test", "--prefetch", "1"] + Self.timers + extra)
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: directory + "/\(name).log", encoding: .utf8)) ?? ""
    }

    /// Finished shards in the journal (0 before it exists).
    var journaledShards: Int {
        let text = (try? String(contentsOfFile: runDirectory + "/journal", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.hasPrefix("done ") }.count
    }

    /// Polls `condition` every 20 ms for up to `seconds`.
    func wait(_ seconds: Double, _ what: String, until condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw HarnessTimeout(what: what, logs: allLogs) }
            usleep(20_000)
        }
    }

    func waitForExit(_ name: String, seconds: Double) throws -> Int32 {
        let p = try #require(processes[name])
        try wait(seconds, "\(name) to exit") { !p.isRunning }
        return p.terminationStatus
    }

    func kill9(_ name: String) {
        guard let p = processes[name], p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    var allLogs: String {
        processes.keys.sorted().map { "== \($0)\n" + log($0).split(separator: "\n").suffix(15).joined(separator: "\n") }.joined(separator: "\n")
    }

    func shutdown() {
        for p in processes.values where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Checks the merged store: every list item exactly once, in order, each embedding
    /// bit-identical to a single-process computation of the test embedder on that file.
    func expectCompleteStore(count: Int, dim: Int = 8, failing: Set<UInt64> = [], root: String = "") throws {
        let (_, rows) = try StoreReadback.rows(of: storePath)
        #expect(rows.count == count)
        #expect(rows.map(\.index) == (0..<UInt64(count)).map { $0 })
        let embedder = TestEmbedder(dim: dim)
        for row in rows {
            if failing.contains(row.index) {
                guard case .failure = row.outcome else { Issue.record("row \(row.index) should have failed"); continue }
                continue
            }
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: root + row.path)))
            let expected = try embedder.embed(try TestImageLoader.features(of: bytes).get(), count: 1)
            // Same arithmetic in the same order: bit-identical, no tolerance needed.
            #expect(row.outcome == .embedding(expected), "row \(row.index)")
        }
    }
}

struct HarnessTimeout: Error, CustomStringConvertible {
    var what: String
    var logs: String
    var description: String { "timed out waiting for \(what)\n\(logs)" }
}
