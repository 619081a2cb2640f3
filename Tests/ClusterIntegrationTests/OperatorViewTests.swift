import Foundation
import Testing
import TestSupport

/// Issue "The operator's view": what a person or a batch scheduler sees of a run.
@Suite struct OperatorViewTests {
    static func extract(_ h: ClusterHarness, _ extra: [String]) throws -> MagfleetProcess.Result {
        try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                 "--embedder", "test", "--workers", "2", "--shard-size", "16", "--batch-size", "2"]
                                + ClusterHarness.timers + extra, timeout: 120)
    }

    /// Standard error not a terminal (Slurm, nohup, Kubernetes): a `progress` log line every
    /// --progress-every seconds with the fields as key=values, moving per batch (rows of shards
    /// still in flight count), never a bar.
    @Test func progressIsLoggedWhenStderrIsNotATerminal() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(96)
        let r = try Self.extract(h, ["--test-delay-ms", "40", "--progress-every", "0.2"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasSuffix("[Cluster] progress") }
        #expect(lines.count >= 3, "\(r.stderr)")
        var done: [Int] = []
        for line in lines {
            for key in ["done=", "total=96", "percent=", "rate=", "elapsed=", "eta=", "workers=", "failed=0"] {
                #expect(line.contains(key), "\(line)")
            }
            if let field = line.split(separator: " ").first(where: { $0.hasPrefix("done=") }) { done.append(Int(field.dropFirst(5)) ?? -1) }
        }
        // Shards are 16 rows; a count that is not a multiple of 16 came from a batch's Progress.
        #expect(done.contains { $0 % 16 != 0 }, "\(done)")
        #expect(!r.stderr.contains("\u{1B}[2K"))
        let quiet = try Self.extract(h, ["--restart", "--no-progress"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("] progress"))
    }

    /// On a terminal (a pty from `script`), a bar with percentage, counts, rate, elapsed time,
    /// ETA, workers and failures; every log line, the local workers' included, is written on a
    /// line of its own above the bar, never glued to it.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script(1) from util-linux"))
    func aTerminalGetsABarAndLogLinesNeverLandOnIt() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(64)
        let command = ([MagfleetProcess.executable.path, "extract", "--list", h.listPath, "--out", h.storePath,
                        "--run-dir", h.runDirectory, "--embedder", "test", "--workers", "2", "--shard-size", "16",
                        "--batch-size", "2", "--test-delay-ms", "30"] + ClusterHarness.timers).joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qefc", command, h.directory + "/typescript"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        try h.wait(60, "extract under script to finish") { !p.isRunning }
        #expect(p.terminationStatus == 0)
        let screen = try String(contentsOfFile: h.directory + "/typescript", encoding: .utf8)
        let bars = screen.components(separatedBy: "\r\u{1B}[2K").filter { $0.contains("% [") }
        #expect(bars.count >= 2, "\(screen)")
        #expect(bars.contains { $0.contains("images") && $0.contains("img/s") && $0.contains("elapsed 0:00:0") && $0.contains("ETA")
            && $0.contains("workers 2") && $0.contains("failed 0") })
        // A timestamp right after a bar's text would be a log line written onto the bar.
        let glued = screen.range(of: #"failed \d+20\d\d-\d\d-\d\dT"#, options: .regularExpression)
        #expect(glued == nil, "\(screen)")
        #expect(screen.contains("worker joined") && screen.contains("magfleet.worker"))
    }

    /// `--json`: the final summary as one JSON object on stdout (counts, failures by category,
    /// rate, wall time, store path, lease counters), and the exit status it states.
    @Test func theFinalSummaryAsJSON() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(20)
        try Data("MAGFLEET-TEST-FAIL".utf8).write(to: URL(fileURLWithPath: h.directory + "/img3.bin"))
        let r = try Self.extract(h, ["--json", "--max-failures", "0"])
        #expect(r.status == 3)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        #expect(object["status"] as? String == "finished" && object["exitStatus"] as? Int == 3)
        #expect(object["store"] as? String == h.storePath)
        #expect(object["rows"] as? Int == 20 && object["embedded"] as? Int == 19 && object["failed"] as? Int == 1)
        #expect(object["failuresByCategory"] as? [String: Int] == ["corrupt": 1])
        #expect(object["imagesThisRun"] as? Int == 20 && (object["seconds"] as? Double ?? 0) > 0)
        let leases = try #require(object["leases"] as? [String: Int])
        #expect(leases["granted"] == 2 && leases["lostVanished"] == 0)
        #expect((object["message"] as? String)?.contains("exceed --max-failures 0") == true)
    }
}
