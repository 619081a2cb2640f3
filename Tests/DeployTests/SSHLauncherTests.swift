import Foundation
import Testing
import Cluster
import TestSupport

/// Deploy/ssh/launch.sh against two SSH hosts made on this machine (NamespaceHosts: network
/// namespaces with an sshd each). A real coordinator listens on the first host's root-side
/// address; the launcher starts one worker per host over SSH; the merged store must hold
/// every row once. Then status and stop are checked on workers that wait for a coordinator
/// that never comes. The hosts share this filesystem, so workers read the list's paths as
/// they are (no --root). Needs root, `ip netns`, sshd and ssh; skipped otherwise.
@Suite(.serialized, .enabled(if: NamespaceHosts.available,
                             "needs root, `ip netns` (iproute2), /usr/sbin/sshd and ssh: run as root after `Deploy/install-deps.sh test`"))
struct SSHLauncherTests {
    static let launcher = DeployTree.deploy.path + "/ssh/launch.sh"
    static let timers = ["--heartbeat-ms", "100", "--heartbeat-timeout-ms", "800"]

    @Test(.timeLimit(.minutes(1)))
    func launchesWorkersOnEveryHostAndTheRunCompletes() throws {
        let started = Date()
        let directory = NSTemporaryDirectory() + "magfleet-deploy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var coordinator: Process?
        let net = try NamespaceHosts(directory: directory)
        defer {
            if let coordinator, coordinator.isRunning {
                kill(coordinator.processIdentifier, SIGKILL)
                coordinator.waitUntilExit()
            }
            net.remove()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let first = try net.add()
        try net.add()

        // 120 small files; the test embedder sleeps 30 ms per image, so the run lasts a few
        // seconds: long enough to see the workers running, short enough for the suite.
        let count = 120
        var lines: [String] = []
        for i in 0..<count {
            let path = "\(directory)/img\(i).bin"
            try Data("deploy face \(i) \(String(repeating: "y", count: i % 5))".utf8).write(to: URL(fileURLWithPath: path))
            lines.append(path)
        }
        let list = directory + "/list.txt", store = directory + "/store.h5"
        try (lines.joined(separator: "\n") + "\n").write(toFile: list, atomically: true, encoding: .utf8)
        let port = try FreePort.pick()
        let endpoint = "tcp://\(first.rootAddress):\(port)"

        let log = directory + "/coordinator.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = MagfleetProcess.executable
        process.arguments = ["coordinator", "--list", list, "--out", store, "--run-dir", directory + "/run",
                             "--bind", endpoint, "--insecure", "--embedder", "test", "--shard-size", "4",
                             "--lease-ms", "20000", "--no-progress"] + Self.timers
        process.standardOutput = logHandle
        process.standardError = logHandle

        let hostsFile = directory + "/hosts"
        try """
            # two namespace hosts, one worker of one thread each
            root@\(net.hosts[0].address) 1 1

            root@\(net.hosts[1].address) 1 1

            """.write(toFile: hostsFile, atomically: true, encoding: .utf8)
        let logDirectory = directory + "/logs"
        let workerArguments = ["--", "--embedder", "test", "--prefetch", "1", "--test-delay-ms", "30"] + Self.timers
        let start = try launch(["start", hostsFile, "--connect", endpoint, "--bin", MagfleetProcess.executable.path,
                                "--model", "x", "--log-dir", logDirectory] + workerArguments, net)
        try #require(start.status == 0, "launch start:\n\(start.output)")
        for host in net.hosts {
            #expect(start.stdout.contains("root@\(host.address): started worker 1 pid"), "\(start.output)")
        }

        // The coordinator starts only now: until it does, the workers wait for it, so status
        // sees both running however long the launch took (nothing here races the run's end).
        let running = try launch(["status", hostsFile, "--log-dir", logDirectory], net)
        #expect(running.status == 0)
        #expect(Self.runningWorkers(running.stdout) == net.hosts.count, "status:\n\(running.output)")
        try process.run()
        coordinator = process

        try waitUntil(seconds: 30, "the coordinator to finish", logs: directory) { !process.isRunning }
        #expect(process.terminationStatus == 0, "coordinator:\n\(Self.tail(log))")
        let (_, rows) = try StoreReadback.rows(of: store)
        #expect(rows.count == count)
        #expect(Set(rows.map(\.index)) == Set((0..<UInt64(count)).map { $0 }), "every row exactly once")
        #expect(rows.allSatisfy { if case .embedding = $0.outcome { true } else { false } })
        // Both hosts' workers took part.
        for host in net.hosts {
            let file = "\(logDirectory)/root_\(host.address)-worker-1.log"
            #expect(FileManager.default.fileExists(atPath: file), "no worker log \(file)")
        }
        let joined = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(joined.components(separatedBy: "worker joined").count - 1 >= 2, "coordinator:\n\(Self.tail(log))")
        // Told the run is done, the workers exit on their own.
        try waitUntil(seconds: 10, "the workers to exit after the run", logs: directory) {
            (try? launch(["status", hostsFile, "--log-dir", logDirectory], net))?.stdout
                .components(separatedBy: "no workers running").count == net.hosts.count + 1
        }

        // stop: workers waiting (with backoff) for a coordinator that is not there.
        let nowhere = "tcp://\(first.rootAddress):\(port + 1)"
        let again = try launch(["start", hostsFile, "--connect", nowhere, "--bin", MagfleetProcess.executable.path,
                                "--model", "x", "--log-dir", logDirectory] + workerArguments, net)
        #expect(again.status == 0, "launch start:\n\(again.output)")
        try waitUntil(seconds: 5, "the waiting workers to show in status", logs: directory) {
            Self.runningWorkers((try? launch(["status", hostsFile, "--log-dir", logDirectory], net))?.stdout ?? "") == net.hosts.count
        }
        let stop = try launch(["stop", hostsFile, "--log-dir", logDirectory], net)
        #expect(stop.status == 0, "launch stop:\n\(stop.output)")
        for host in net.hosts {
            #expect(stop.stdout.contains("root@\(host.address): stopping worker 1 pid"), "stop:\n\(stop.output)")
        }
        try waitUntil(seconds: 10, "the stopped workers to exit", logs: directory) {
            (try? launch(["status", hostsFile, "--log-dir", logDirectory], net))?.stdout
                .components(separatedBy: "no workers running").count == net.hosts.count + 1
        }
        print("SSH launcher test: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// Runs the launcher with MAGFLEET_SSH_OPTS set for these hosts (at most 10 s).
    func launch(_ arguments: [String], _ net: NamespaceHosts) throws -> Finished {
        try runCommand("/bin/bash", [Self.launcher] + arguments, environment: ["MAGFLEET_SSH_OPTS": net.sshOptions], timeout: 10)
    }

    func waitUntil(seconds: Double, _ what: String, logs directory: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else {
                let names = (try? FileManager.default.subpathsOfDirectory(atPath: directory)) ?? []
                let logs = names.filter { $0.hasSuffix(".log") }.sorted().map { "== \($0)\n" + Self.tail(directory + "/" + $0) }
                throw DeployCheckFailure("timed out waiting for \(what)\n" + logs.joined(separator: "\n"))
            }
            usleep(50_000)
        }
    }

    /// Lines `HOST: worker N pid P running` in the launcher's status output.
    static func runningWorkers(_ status: String) -> Int {
        status.split(separator: "\n").filter { $0.contains(": worker ") && $0.hasSuffix(" running") }.count
    }

    static func tail(_ path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }
}
