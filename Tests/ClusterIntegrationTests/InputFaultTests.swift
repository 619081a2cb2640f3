import FeatureStore
import Foundation
import Imaging
import Testing
import TestSupport
@testable import Cluster

/// Issue 16: inputs that hang or lie, run as a user runs them, with real processes. A stalled
/// read is a real one: a FUSE filesystem that never answers (`StallingFilesystem`).
@Suite struct InputFaultTests {
    static func run(_ args: [String]) throws -> MagfleetProcess.Result { try MagfleetProcess.run(args, timeout: 60) }

    /// Makes the files of `lines` (under `root`) real, distinct 112x112 JPEGs, so that
    /// `images check` decodes them as a run's workers would (the test embedder hashes any bytes).
    static func writeJPEGs(root: String, _ lines: [String]) throws {
        for (n, line) in lines.enumerated() {
            var pixels = [UInt8](repeating: 0, count: 112 * 112 * 3)
            for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: i / 3 + n * 37 + (i % 3) * 85) }
            let jpeg = try JPEGEncoder.encode(BGRImage(width: 112, height: 112, pixels: pixels))
            try Data(jpeg).write(to: URL(fileURLWithPath: root + "/" + line.split(separator: " ")[0]))
        }
    }

    /// Writes the images of `ListAndRunTests.makeDataset` under `root`, with the rows at
    /// `stalled` renamed `…stall-read…` (the FUSE server never answers their reads) and the
    /// rows at `stalledOpens` `…stall-open…` (never answers their opens). Returns the lines.
    @discardableResult
    static func stallingDataset(_ h: ClusterHarness, root: String, stalled: [Int], stalledOpens: [Int] = []) throws -> [String] {
        var lines = try ListAndRunTests.makeDataset(h, root: root, identities: 2, per: 4, distractors: 2)
        try writeJPEGs(root: root, lines)
        for (i, kind) in stalled.map({ ($0, "stall-read") }) + stalledOpens.map({ ($0, "stall-open") }) {
            let path = String(lines[i].split(separator: " ")[0])
            let renamed = path.replacingOccurrences(of: ".bin", with: "-\(kind).bin")
            try FileManager.default.moveItem(atPath: root + "/" + path, toPath: root + "/" + renamed)
            lines[i] = lines[i].replacingOccurrences(of: path, with: renamed)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        return lines
    }

    /// Runs `magfleet ARGS` (harness process `name`) with `backing` served at `mountPoint` by a
    /// new stalling mount; once `done` says its work is over, unmounts (the storage comes back:
    /// a thread stuck in the kernel returns, so the process can exit; `StallingFilesystem`) and
    /// returns its exit status and what the server held.
    static func runStalled(_ h: ClusterHarness, _ name: String, _ args: [String], backing: String, mountPoint: String,
                           also: [(String, [String])] = [], until done: @escaping () -> Bool) throws -> (status: Int32, served: String) {
        let fs = try StallingFilesystem(backing: backing, mountPoint: mountPoint)
        defer { fs.unmount() }
        try h.start(name, args)
        for (other, otherArgs) in also { try h.start(other, otherArgs) }
        try h.wait(60, "\(name) to finish its work") { done() || !h.processes[name]!.isRunning }
        fs.unmount()
        return (try h.waitForExit(name, seconds: 60), fs.log)
    }

    /// Images whose open or read stall on the storage fail as `read-timeout` within
    /// --read-timeout-ms, naming the path and the deadline, in `images check`, in `extract`
    /// (its workers and its check before the run) and in a `coordinator --ship-images` run;
    /// every other row is embedded and every process gets through its work.
    @Test(.enabled(if: StallingFilesystem.available, "needs root, /dev/fuse and python3-fusepy (Deploy/install-deps.sh test)"))
    func aStalledReadFailsItsRowAndNeverTheProcess() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let backing = h.directory + "/backing", root = h.directory + "/mnt"
        let lines = try Self.stallingDataset(h, root: backing, stalled: [1], stalledOpens: [6])
        let stalledPaths = [1, 6].map { String(lines[$0].split(separator: " ")[0]) }

        let check = try Self.runStalled(h, "check", ["images", "check", h.listPath, "--root", root, "--read-timeout-ms", "300"],
                                        backing: backing, mountPoint: root) { h.log("check").contains("10 images: ") }
        let out = h.log("check")
        #expect(check.status == 1, "\(out)")
        for path in stalledPaths {
            #expect(out.contains("\(root)/\(path): open and read did not finish within 300 ms (--read-timeout-ms): stalled storage?"), "\(out)")
        }
        #expect(out.contains("10 images: 8 ok, 2 failed (read-timeout 2)"), "\(out)")
        #expect(check.served.contains("stalled read /\(stalledPaths[0])") && check.served.contains("stalled open /\(stalledPaths[1])"),
                "\(check.served)")

        let e = try Self.runStalled(h, "extract", ["extract", "--list", h.listPath, "--out", h.storePath, "--root", root,
                                                   "--workers", "2", "--embedder", "test", "--shard-size", "4", "--max-failures", "2",
                                                   "--read-timeout-ms", "300"] + ClusterHarness.timers,
                                    backing: backing, mountPoint: root) { FileManager.default.fileExists(atPath: h.storePath) }
        let log = h.log("extract")
        #expect(e.status == 0, "\(log)")
        #expect(log.contains("merged 10 rows (8 embedded, 2 failed)") && log.contains("read-timeout 2"), "\(log)")
        #expect(log.contains("some sampled images are unreadable here"), "\(log)")  // the check before the run
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        for i in [1, 6] {
            #expect(rows[i].failure?.category == "read-timeout")
            #expect(rows[i].failure?.reason.contains("within 300 ms (--read-timeout-ms): stalled storage?") == true, "\(rows[i])")
        }
        #expect(rows.filter { $0.failure == nil }.count == 8)

        // Shipping: the coordinator's own open of the image stalls; the row fails with why. (One
        // stalled row: its check before the run and its shipping strand two of the 4 threads.)
        let shipList = h.directory + "/ship.txt", shipped = h.directory + "/shipped.h5"
        try (lines.enumerated().filter { $0.offset != 1 }.map(\.element).joined(separator: "\n") + "\n")
            .write(toFile: shipList, atomically: true, encoding: .utf8)
        let c = try Self.runStalled(
            h, "coordinator",
            ["coordinator", "--list", shipList, "--out", shipped, "--run-dir", h.directory + "/ship.run", "--bind", h.endpoint,
             "--embedder", "test", "--shard-size", "4", "--ship-images", "--root", root, "--max-failures", "1",
             "--read-timeout-ms", "300"] + ClusterHarness.timers,
            backing: backing, mountPoint: root,
            also: [("w", ["worker", "--connect", h.endpoint, "--embedder", "test", "--prefetch", "1"] + ClusterHarness.timers)]
        ) { FileManager.default.fileExists(atPath: shipped) }
        #expect(c.status == 0, "\(h.allLogs)")
        let (_, shippedRows) = try StoreReadback.rows(of: shipped)
        #expect(shippedRows[5].failure?.category == "read-timeout")
        #expect(shippedRows[5].failure?.reason.contains(
            "the coordinator could not read it to ship it: \(root)/\(stalledPaths[1]): open and read did not finish within 300 ms") == true,
            "\(shippedRows[5])")
        #expect(shippedRows.filter { $0.failure == nil }.count == 8)
    }

    /// A dead mount costs a few threads, not one per image: once 4 reads (the limit per process)
    /// are stuck, every further read of the process fails at once, saying why, healthy files'
    /// too, without touching the storage; `images check` ends in seconds.
    @Test(.enabled(if: StallingFilesystem.available, "needs root, /dev/fuse and python3-fusepy (Deploy/install-deps.sh test)"))
    func pastFourStalledReadsEveryReadFailsAtOnce() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let backing = h.directory + "/backing", root = h.directory + "/mnt"
        try Self.stallingDataset(h, root: backing, stalled: [0, 1, 2], stalledOpens: [3, 4, 5])
        let check = try Self.runStalled(h, "check", ["images", "check", h.listPath, "--root", root, "--read-timeout-ms", "200"],
                                        backing: backing, mountPoint: root) { h.log("check").contains("10 images: ") }
        let out = h.log("check")
        #expect(check.status == 1, "\(out)")
        #expect(out.components(separatedBy: "did not finish within 200 ms").count - 1 == 4, "\(out)")
        #expect(out.components(separatedBy: "not read: 4 earlier reads are still stalled past --read-timeout-ms").count - 1 == 6, "\(out)")
        #expect(out.contains("10 images: 0 ok, 10 failed (read-timeout 10)"), "\(out)")
        #expect(check.served.split(separator: "\n").filter { $0.hasPrefix("stalled ") }.count == 4, "\(check.served)")
    }

    /// A list path that is not UTF-8 (a real file whose name is Latin-1 bytes on disk) is
    /// refused the same way by `images check` and by a run: a `malformed-line` row naming the
    /// byte and its offset, never a "missing" file, and never sent to a worker.
    @Test func aNonUTF8PathIsRefusedAlikeEverywhere() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        let lines = try ListAndRunTests.makeDataset(h, root: root, identities: 1, per: 2, distractors: 1)
        try Self.writeJPEGs(root: root, lines)
        // ids/caf\xE9/1.bin: "café" in Latin-1, made with the bytes themselves.
        let folder: [UInt8] = Array((root + "/ids/caf").utf8) + [0xE9]
        let file = folder + Array("/1.bin".utf8)
        #expect((folder + [0]).withUnsafeBufferPointer { mkdir(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 0o755) } == 0)
        let fd = (file + [0]).withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        #expect(fd >= 0 && write(fd, "image latin1", 12) == 12)
        close(fd)
        var list = Data((lines.joined(separator: "\n") + "\n").utf8)
        list.append(contentsOf: Array("ids/caf".utf8) + [0xE9] + Array("/1.bin person_0\n".utf8))
        try list.write(to: URL(fileURLWithPath: h.listPath))
        let reason = "malformed: the path is not valid UTF-8 (byte 0xE9 at offset 7); list paths must be UTF-8 text (docs/lists.md)"

        let check = try Self.run(["images", "check", h.listPath, "--root", root])
        #expect(check.status == 1)
        #expect(check.stdout.contains("\(h.listPath):4: ids/caf\\xE9/1.bin: list line 4 \(reason)"), "\(check.stdout)")
        #expect(check.stdout.contains("4 images: 3 ok, 1 failed (malformed-line 1)"), "\(check.stdout)")

        let e = try Self.run(["extract", "--list", h.listPath, "--out", h.storePath, "--root", root, "--workers", "1",
                              "--embedder", "test", "--max-failures", "1"] + ClusterHarness.timers)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("merged 4 rows (3 embedded, 1 failed)") && e.stdout.contains("malformed-line 1"), "\(e.stdout)")
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows[3].failure?.category == "malformed-line")
        #expect(rows[3].failure?.reason == reason)
        #expect(rows[3].path == "ids/caf\\xE9/1.bin" && rows[3].label == -1)
    }
}
