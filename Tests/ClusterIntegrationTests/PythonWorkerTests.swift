import Foundation
import Imaging
import Testing
import TestSupport
@testable import Cluster
import ClusterCore
import TestEmbedding

/// Protocols/python/worker.py, a worker written from Protocols/ alone, against the real Swift
/// coordinator (see ClusterHarness): its rows must be bit-identical to a Swift worker's.
/// Needs a python with pyzmq, protobuf and numpy (`Deploy/install-deps.sh test` puts them in
/// the peer venv, MAGFLEET_PEER_PYTHON) and protoc (Debian's protobuf-compiler). Nested in
/// ClusterIntegrationTests so that it runs serialized with the other cluster tests.
extension ClusterIntegrationTests {
    @Suite(.enabled(if: PythonWorker.python != nil,
                    "no python with pyzmq, protobuf and numpy: set MAGFLEET_PEER_PYTHON (Deploy/install-deps.sh test installs them)"))
    struct PythonWorkerTests {
        /// The list: comments and a blank line (not rows), a labelled line, a line with 5
        /// landmarks, a missing file, a malformed line (failed by the coordinator, never sent), a
        /// `synthetic:` row, an empty file, a test-fail file, a directory, an absolute path (joined
        /// to --root too), and plain rows; shards of 3 rows.
        static let list = """
            # rows for the Python worker test
            img0.bin
            img1.bin alice

            img2.bin bob 38.29 51.69 73.53 51.50 56.02 71.73 41.54 92.36 70.72 92.20
            missing.bin
            img3.bin one field too many
            sub/synthetic:seven
            empty.bin bob
            fail.bin
            adir
            /img4.bin carol
            \((5..<11).map { "img\($0).bin" }.joined(separator: "\n"))

            """

        @Test func aPythonWorkerComputesTheListBitIdenticalToASwiftWorker() throws {
            let h = try ClusterHarness()
            defer { h.shutdown() }
            let (root, python) = try prepare(h)

            // The Python worker computes the whole list alone.
            let pyStore = h.directory + "/python.h5"
            let pyEndpoint = try startCoordinator(h, name: "coordinator-py", store: pyStore, run: "run-py", root: root)
            try python.start(h, "python", ["--connect", pyEndpoint, "--root", root, "--prefetch", "2", "--batch-size", "2"])
            #expect(try h.waitForExit("coordinator-py", seconds: 60) == 0, "\(h.allLogs)")
            #expect(try h.waitForExit("python", seconds: 10) == 0, "\(h.log("python"))")
            #expect(h.log("python").contains("welcomed by the coordinator"))
            #expect(h.log("python").contains("the run is finished"))
            #expect(h.log("coordinator-py").contains("worker joined"))
            #expect(!h.log("coordinator-py").contains("invalid result"), "\(h.log("coordinator-py"))")
            #expect(!h.log("coordinator-py").contains("lease handed back"), "\(h.log("coordinator-py"))")

            // The same list, the same coordinator settings, one Swift worker.
            let swStore = h.directory + "/swift.h5"
            let swEndpoint = try startCoordinator(h, name: "coordinator-swift", store: swStore, run: "run-swift", root: root)
            try h.start("swift", ["worker", "--connect", swEndpoint, "--root", root, "--embedder", "test", "--prefetch", "2"]
                        + ClusterHarness.timers)
            #expect(try h.waitForExit("coordinator-swift", seconds: 60) == 0, "\(h.allLogs)")

            let (pyProvenance, pyRows) = try StoreReadback.rows(of: pyStore)
            let (swProvenance, swRows) = try StoreReadback.rows(of: swStore)
            #expect(pyProvenance.modelFingerprint == swProvenance.modelFingerprint)
            try #require(pyRows.count == 16)
            #expect(pyRows.map(\.index) == (0..<16).map { UInt64($0) })
            // Row by row: path, label, and the outcome, embeddings compared bit for bit.
            #expect(pyRows.count == swRows.count)
            for (p, s) in zip(pyRows, swRows) {
                #expect(p.index == s.index && p.path == s.path && p.label == s.label, "row \(p.index)")
                switch (p.outcome, s.outcome) {
                case let (.embedding(a), .embedding(b)):
                    #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "row \(p.index): \(a) != \(b)")
                case let (.failure(a), .failure(b)):
                    #expect(a == b, "row \(p.index)")
                default:
                    Issue.record("row \(p.index): python \(p.outcome) vs swift \(s.outcome)")
                }
            }

            // And against this process's own test embedder, on the bytes each row stands for.
            let embedder = TestEmbedder(dim: 8)
            let failing: [UInt64: String] = [3: "missing-file", 4: "malformed-line", 6: "empty-file", 7: "corrupt", 8: "unreadable"]
            for row in pyRows {
                if let category = failing[row.index] {
                    #expect(row.failure?.category == category, "row \(row.index): \(row.outcome)")
                    continue
                }
                let bytes = row.path.contains("synthetic:")
                    ? Array(row.path[row.path.range(of: "synthetic:")!.lowerBound...].utf8)
                    : Array(try Data(contentsOf: URL(fileURLWithPath: ImageRoot.join(root, row.path))))
                let expected = try embedder.embed(try TestImageLoader.features(of: bytes).get(), count: 1)
                guard case let .embedding(v) = row.outcome else { Issue.record("row \(row.index) failed: \(row.outcome)"); continue }
                #expect(v.map(\.bitPattern) == expected.map(\.bitPattern), "row \(row.index)")
            }
            #expect(pyRows[3].failure == RowFailure(category: "missing-file", reason: "\(root)/missing.bin: no such file"))
            #expect(pyRows[1].label != -1 && pyRows[2].label != -1 && pyRows[0].label == -1)  // alice, bob; no label
            #expect(pyRows[9].path == "/img4.bin" && pyRows[9].outcome != pyRows[10].outcome)
        }

        @Test func aPythonWorkerOverCurveComputesShippedImagesAndEchoesTheCoordinatorsFailures() throws {
            let h = try ClusterHarness()
            defer { h.shutdown() }
            let (root, python) = try prepare(h)
            for name in ["server", "python"] { try MagfleetProcessRun(["keygen", "--out", h.directory + "/" + name]) }
            let store = h.directory + "/shipped.h5"
            let endpoint = try startCoordinator(h, name: "coordinator", store: store, run: "run", root: root, extra: [
                "--ship-images", "--curve-key", h.directory + "/server.key", "--allow", h.directory + "/python.pub"])
            // Its root does not exist: every byte it embeds was shipped.
            try python.start(h, "python", ["--connect", endpoint, "--root", "/nonexistent", "--prefetch", "2",
                                           "--curve-key", h.directory + "/python.key", "--server-key", h.directory + "/server.pub"])
            #expect(try h.waitForExit("coordinator", seconds: 60) == 0, "\(h.allLogs)")
            #expect(try h.waitForExit("python", seconds: 10) == 0, "\(h.log("python"))")
            #expect(h.log("python").contains("ship_images=True"))
            let (_, rows) = try StoreReadback.rows(of: store)
            try #require(rows.count == 16)
            let embedder = TestEmbedder(dim: 8)
            // The coordinator could not read these to ship them; the worker reported its Failure as given.
            let unshippable: [UInt64: String] = [3: "missing-file", 6: "empty-file", 8: "unreadable"]
            for row in rows {
                if let category = unshippable[row.index] {
                    #expect(row.failure?.category == category, "row \(row.index): \(row.outcome)")
                    #expect(row.failure?.reason.hasPrefix("the coordinator could not read it to ship it: \(root)/") == true,
                            "row \(row.index): \(row.outcome)")
                    continue
                }
                if row.index == 4 { #expect(row.failure?.category == "malformed-line"); continue }
                if row.index == 7 { #expect(row.failure?.category == "corrupt"); continue }
                if row.index == 5 {  // `synthetic:` is a path rule; shipped, its (missing) file is unreadable
                    #expect(row.failure?.category == "missing-file", "\(row.outcome)")
                    continue
                }
                let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: ImageRoot.join(root, row.path))))
                let expected = try embedder.embed(try TestImageLoader.features(of: bytes).get(), count: 1)
                guard case let .embedding(v) = row.outcome else { Issue.record("row \(row.index) failed: \(row.outcome)"); continue }
                #expect(v.map(\.bitPattern) == expected.map(\.bitPattern), "row \(row.index)")
            }
        }

        /// The Python worker keeps the amended lease rules of version 2: its Heartbeats list what
        /// it holds, so shards that outlive `--lease-ms` are renewed, never stormed; an image
        /// whose read stalls makes it stalled (its `step_ms`), and the image fails alone saying
        /// so; a NaN embedding is failed as `non-finite`, never sent.
        @Test func aPythonWorkerRenewsItsLeasesAndReportsItsStalls() throws {
            let h = try ClusterHarness()
            defer { h.shutdown() }
            try h.makeImages(12)
            try Data("MAGFLEET-TEST-STALL 8000".utf8).write(to: URL(fileURLWithPath: h.directory + "/img9.bin"))
            try Data("MAGFLEET-TEST-NAN".utf8).write(to: URL(fileURLWithPath: h.directory + "/img2.bin"))
            let python = try PythonWorker(directory: h.directory)
            try h.startCoordinator(["--lease-ms", "1000", "--stall-ms", "1500", "--max-losses", "1", "--max-failures", "2"])
            try python.start(h, "python", ["--connect", h.endpoint, "--prefetch", "1", "--test-delay-ms", "300"])
            try h.startWorker("swift")  // takes the rest once the Python worker stalls
            #expect(try h.waitForExit("coordinator", seconds: 60) == 0, "\(h.allLogs)")
            let summary = h.log("coordinator")
            // The shard holding the stalling image, then that image alone: two stalls, nothing else lost.
            #expect(summary.contains("2 lost (0 vanished, 2 stalled, 0 expired)"), "\(h.allLogs)")
            #expect(!summary.contains("lease expired"), "\(summary)")
            #expect(!h.log("python").contains("handing it back"))
            try h.expectCompleteStore(count: 12, failing: [2, 9])
            let (_, rows) = try StoreReadback.rows(of: h.storePath)
            #expect(rows[2].failure?.category == RowFailure.Category.nonFinite)
            #expect(rows[9].failure?.reason.contains("stalled on it") == true, "\(rows[9])")
        }

        @Test func aPythonWorkerDrainsOnSIGTERMAndTheRunFinishesWithoutIt() throws {
            let h = try ClusterHarness()
            defer { h.shutdown() }
            try h.makeImages(96)
            let python = try PythonWorker(directory: h.directory)
            try h.startCoordinator(["--heartbeat-timeout-ms", "5000"])
            try python.start(h, "python", ["--connect", h.endpoint, "--prefetch", "2", "--test-delay-ms", "40",
                                           "--heartbeat-timeout-ms", "5000"])
            try h.wait(30, "the Python worker's first shards") { h.journaledShards >= 2 }
            let worker = try #require(h.processes["python"])
            kill(worker.processIdentifier, SIGTERM)
            #expect(try h.waitForExit("python", seconds: 15) == 0, "\(h.log("python"))")
            #expect(h.log("python").contains("drained after SIGTERM"), "\(h.log("python"))")
            try h.wait(10, "the coordinator to log the drain and the leave") {
                h.log("coordinator").contains("worker draining") && h.log("coordinator").contains("worker left")
            }
            // Prefetch 2: the queued shard was handed back (Release) or there was none queued.
            #expect(!h.log("coordinator").contains("invalid result"))
            try h.startWorker("swift")
            #expect(try h.waitForExit("coordinator", seconds: 40) == 0, "\(h.allLogs)")
            try h.expectCompleteStore(count: 96)
        }

        @Test func aPythonWorkerWithAnotherModelIsRefused() throws {
            let h = try ClusterHarness()
            defer { h.shutdown() }
            try h.makeImages(4)
            let python = try PythonWorker(directory: h.directory)
            try h.startCoordinator()
            try python.start(h, "python", ["--connect", h.endpoint, "--test-dim", "16", "--flip"])
            #expect(try h.waitForExit("python", seconds: 15) == 2)
            #expect(h.log("python").contains("model mismatch (worker vs coordinator): dim 16 != 8; flip true != false"),
                    "\(h.log("python"))")
            #expect(h.log("coordinator").contains("refused a worker"))
            #expect(h.journaledShards == 0)
        }

        /// The faces under `h.directory/faces`, the list, and the Python worker.
        func prepare(_ h: ClusterHarness) throws -> (root: String, python: PythonWorker) {
            let root = h.directory + "/faces"
            try makeFaces(root)
            try Self.list.write(toFile: h.listPath, atomically: true, encoding: .utf8)
            return (root, try PythonWorker(directory: h.directory))
        }

        /// Starts a test-embedder coordinator on a port the kernel picks and returns its endpoint,
        /// read back from its `coordinator serving` log line.
        func startCoordinator(_ h: ClusterHarness, name: String, store: String, run: String, root: String,
                              extra: [String] = []) throws -> String {
            try h.start(name, ["coordinator", "--list", h.listPath, "--out", store, "--run-dir", h.directory + "/" + run,
                               "--bind", "tcp://127.0.0.1:*", "--embedder", "test", "--shard-size", "3", "--lease-ms", "20000",
                               "--root", root, "--max-failures", "10", "--no-progress"] + ClusterHarness.timers + extra)
            var endpoint: String?
            try h.wait(20, "\(name) to serve") {
                let line = h.log(name).split(separator: "\n").first { $0.contains("coordinator serving") }
                guard let line, let r = line.range(of: #"endpoint=tcp://[0-9.]+:[0-9]+"#, options: .regularExpression) else { return false }
                endpoint = String(line[r].dropFirst("endpoint=".count))
                return true
            }
            return try #require(endpoint)
        }

        /// Writes the files the list names under `root`.
        func makeFaces(_ root: String) throws {
            let fm = FileManager.default
            try fm.createDirectory(atPath: root + "/adir", withIntermediateDirectories: true)
            for i in 0..<11 {
                // Distinct bytes of several lengths, some over 256 bytes.
                let text = "face \(i) " + String(repeating: "\(i)x", count: i * 37)
                try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/img\(i).bin"))
            }
            try Data().write(to: URL(fileURLWithPath: root + "/empty.bin"))
            try Data("MAGFLEET-TEST-FAIL and the rest".utf8).write(to: URL(fileURLWithPath: root + "/fail.bin"))
        }
    }
}

/// Protocols/python/worker.py with magfleet_pb2 generated by protoc into the test's directory.
struct PythonWorker {
    /// The first python that imports what the worker needs: $MAGFLEET_PEER_PYTHON, python3,
    /// the fixture venv.
    static let python: String? = {
        var candidates = ["python3", "/opt/fxvenv/bin/python"]
        if let configured = ProcessInfo.processInfo.environment["MAGFLEET_PEER_PYTHON"] { candidates.insert(configured, at: 0) }
        return candidates.first { (try? PeerPython.run($0, script: "import zmq, google.protobuf, numpy", arguments: []))?.status == 0 }
    }()

    static let protocols = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocols").path

    let python: String
    let generated: String

    /// Generates magfleet_pb2.py into DIRECTORY/pb and checks that this python loads it.
    init(directory: String) throws {
        python = try #require(Self.python)
        generated = directory + "/pb"
        try FileManager.default.createDirectory(atPath: generated, withIntermediateDirectories: true)
        let protoc = try Self.run(["protoc", "-I", Self.protocols, "--python_out=\(generated)", Self.protocols + "/magfleet.proto"])
        try #require(protoc.status == 0, "protoc failed (Debian's protobuf-compiler: Deploy/install-deps.sh test): \(protoc.output)")
        let load = try Self.run(["PYTHONPATH=\(generated)", python, "-c", "import magfleet_pb2"])
        try #require(load.status == 0, "\(python) cannot load protoc's code (protobuf version?): \(load.output)")
    }

    /// Starts the worker as a harness process (killed in `shutdown`), logging to NAME.log.
    func start(_ h: ClusterHarness, _ name: String, _ arguments: [String]) throws {
        try h.start(name, ["PYTHONPATH=\(generated)", python, Self.protocols + "/python/worker.py"]
                    + ["--heartbeat-ms", "100", "--heartbeat-timeout-ms", "800"] + arguments,
                    executable: "/usr/bin/env")
    }

    /// Runs `/usr/bin/env ARGUMENTS` to completion (bounded: 60 s), stdout and stderr together.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = Locked(Data())
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            output.set(pipe.fileHandleForReading.readDataToEndOfFile())
            done.signal()
        }
        if done.wait(timeout: .now() + 60) == .timedOut {
            process.terminate()
            process.waitUntilExit()
            return (-1, "timed out: \(arguments.joined(separator: " "))")
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output.get(), as: UTF8.self))
    }
}
