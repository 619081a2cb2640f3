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
            && $0.contains("workers ") && $0.contains("failed 0") })
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

/// The coordinator's Prometheus endpoint, scraped by a real Prometheus server during a real run.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
                    && FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool")
                    && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"),
                "needs prometheus, promtool and curl (Deploy/install-deps.sh test installs them)"))
struct MetricsEndpointTests {
    /// Runs a program to completion; its exit status and standard output.
    static func run(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let out = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aPrometheusServerScrapesTheCoordinatorDuringARun() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try h.makeImages(400)
        try h.startCoordinator(["--shard-size", "8", "--metrics-bind", "127.0.0.1:0"])
        var url = ""
        try h.wait(30, "the metrics endpoint") {
            guard let line = h.log("coordinator").split(separator: "\n").first(where: { $0.contains("serving metrics") }),
                  let r = line.range(of: #"url=http://[0-9.]+:[0-9]+/metrics"#, options: .regularExpression) else { return false }
            url = String(line[r].dropFirst("url=".count))
            return true
        }
        try h.startWorker("w", ["--test-delay-ms", "30", "--batch-size", "2"])

        // One scrape by hand: valid exposition format (promtool's lint: HELP and TYPE on every family).
        try h.wait(30, "a worker's rate on the endpoint") {
            ((try? Self.run("/usr/bin/curl", ["-sf", url]))?.output ?? "").contains("magfleet_worker_images_per_second{")
        }
        let scrape = try Self.run("/usr/bin/curl", ["-sf", url]).output
        let lint = try Self.run("/usr/bin/promtool", ["check", "metrics"], stdin: scrape)
        #expect(lint.status == 0, "\(lint.output)\n\(scrape)")
        for family in ["magfleet_images", "magfleet_images_completed_total", "magfleet_shards", "magfleet_workers",
                       "magfleet_worker_images_per_second", "magfleet_lease_events_total", "magfleet_leases_lost_total",
                       "magfleet_merge_rows", "magfleet_images_per_second", "magfleet_run_finished"] {
            #expect(scrape.contains("# HELP \(family) ") && scrape.contains("# TYPE \(family) "), "\(family)")
        }
        #expect(scrape.contains(#"magfleet_images{run="run",state="total"} 400"#), "\(scrape)")

        // A Prometheus server scrapes it every 250 ms; its query API sees the rows going up.
        let promPort = try FreePort.pick()
        let target = url.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "/metrics", with: "")
        let config = """
            global:
              scrape_interval: 250ms
            scrape_configs:
              - job_name: magfleet
                static_configs:
                  - targets: ["\(target)"]
            """
        try config.write(toFile: h.directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        try h.start("prometheus", ["--config.file=\(h.directory)/prometheus.yml", "--storage.tsdb.path=\(h.directory)/tsdb",
                                   "--web.listen-address=127.0.0.1:\(promPort)"], executable: "/usr/bin/prometheus")
        func query(_ q: String) -> String {
            let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            return (try? Self.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(promPort)/api/v1/query?query=\(encoded)"]))?.output ?? ""
        }
        var first: Double?
        try h.wait(60, "Prometheus to see the embedded rows grow") {
            let answer = query(#"magfleet_images{state="embedded"}"#)
            guard let r = answer.range(of: #""value":\[[0-9.]+,"[0-9.]+""#, options: .regularExpression),
                  let value = Double(answer[r].split(separator: "\"").last ?? "") else { return false }
            if first == nil { first = value }
            return value > (first ?? 0) && value > 0
        }
        #expect(query("magfleet_workers").contains(#""state":"alive""#))
        #expect(query("magfleet_lease_events_total").contains(#""event":"granted""#))
        #expect(query(#"up{job="magfleet"}"#).contains(#""1"]"#))
    }
}
