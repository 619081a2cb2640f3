import FeatureStore
import Foundation
import Testing
import TestSupport
@testable import Cluster
import ClusterCore

/// Issue 16: the files a run writes, when the disk is full or a file is damaged, with real
/// processes. Every damaged run must end with a store equal to a clean run's, or exit non-zero
/// with a message naming the file and leave no store that looks complete.
@Suite struct StoreIntegrityTests {
    /// 16 images (3 identities and distractors), the list in `h.listPath`, under `h.directory/images`.
    static func makeDataset(_ h: ClusterHarness) throws -> String {
        let root = h.directory + "/images"
        try ListAndRunTests.makeDataset(h, root: root)
        return root
    }

    /// `magfleet extract` of the harness's list with the test embedder, shards of 4 rows,
    /// keeping the run directory (these tests damage it).
    static func extract(_ h: ClusterHarness, root: String, out: String, runDirectory: String, _ extra: [String] = []) throws -> MagfleetProcess.Result {
        try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", out, "--run-dir", runDirectory, "--root", root,
                                 "--workers", "2", "--embedder", "test", "--shard-size", "4", "--keep-run-dir"] + ClusterHarness.timers + extra,
                                timeout: 60)
    }

    /// The rows of a run of the same list into a fresh run directory: what every repaired run must give.
    static func cleanRun(_ h: ClusterHarness, root: String, _ extra: [String] = []) throws -> [ShardRow] {
        let out = h.directory + "/clean.h5"
        let result = try extract(h, root: root, out: out, runDirectory: h.directory + "/clean.run", extra)
        #expect(result.status == 0, "\(result.stderr)")
        return try StoreReadback.rows(of: out).rows
    }

    static func files(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }
}

/// Item 3: a full disk under the store, the run directory, or `magfleet merge`'s output. Each
/// exits 1 (not SIGSEGV: HDF5's atexit handler finds nothing half-closed) naming the file,
/// leaves no partial file, and the same command finishes once there is room.
@Suite(.enabled(if: ScratchMount.isAvailable, "needs root to mount a tmpfs"))
struct FullDiskRunTests {
    typealias T = StoreIntegrityTests

    @Test func aFullDiskUnderTheStoreFailsCleanlyAndTheRerunOnlyMerges() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let disk = try ScratchMount(size: "128k")
        defer { disk.unmount() }
        let out = disk.path + "/store.h5", run = h.directory + "/run"
        let full = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("magfleet: \(out): No space left on device"), "\(full.stderr)")
        #expect(T.files(in: disk.path) == [])
        try disk.resize("8m")
        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("this run: 0 images"))  // every shard was done: only the merge again
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }

    @Test func aFullDiskUnderTheRunDirectoryFailsCleanlyAndResumes() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        // Shards of 4 rows at dim 4096 take ~88 KB each, and each write reserves ~330 KB for its
        // flush first: 512 KB hold the journal and a shard or two, not all four.
        let wide = ["--test-dim", "4096"]
        let clean = try T.cleanRun(h, root: root, wide)
        let disk = try ScratchMount(size: "512k")
        defer { disk.unmount() }
        let run = disk.path + "/run", out = h.directory + "/store.h5"
        let full = try T.extract(h, root: root, out: out, runDirectory: run, wide)
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("magfleet: \(run)/shards/") && full.stderr.contains(".h5: No space left on device"), "\(full.stderr)")
        #expect(!T.files(in: run + "/shards").contains { $0.contains(".partial") })
        #expect(!FileManager.default.fileExists(atPath: out))
        try disk.resize("8m")
        let rerun = try T.extract(h, root: root, out: out, runDirectory: run, wide)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }

    @Test func magfleetMergeOntoAFullDiskFailsCleanly() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let run = h.directory + "/clean.run"
        let disk = try ScratchMount(size: "128k")
        defer { disk.unmount() }
        let out = disk.path + "/merged.h5"
        let full = try MagfleetProcess.run(["merge", "--run-dir", run, "--out", out])
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("magfleet: \(out): No space left on device"), "\(full.stderr)")
        #expect(T.files(in: disk.path) == [])
        try disk.resize("8m")
        let merged = try MagfleetProcess.run(["merge", "--run-dir", run, "--out", out])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }
}

/// Items 4 and 6: a run directory whose finished shards lost or damaged their files, or that
/// killed writers left temporary files in, still finishes, with the store a clean run makes.
@Suite struct DamagedRunDirectoryTests {
    typealias T = StoreIntegrityTests

    /// A finished run in `h.directory/run`, its store in `h.directory/store.h5`.
    static func finishedRun(_ h: ClusterHarness, root: String) throws -> (out: String, run: String, shards: String) {
        let out = h.directory + "/store.h5", run = h.directory + "/run"
        let first = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(first.status == 0, "\(first.stderr)")
        return (out, run, run + "/shards")
    }

    /// Flips one bit inside the bytes of row `row`'s embedding in a shard file.
    static func flipBit(inRow row: Int, of shard: String) throws {
        let (_, rows) = try StoreReadback.rows(of: shard)
        guard case let .embedding(vector) = rows[row].outcome else { throw HarnessTimeout(what: "an embedded row", logs: "") }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
        let pattern = Data(vector.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
        let at = try #require(bytes.range(of: pattern)).lowerBound + 5
        bytes[at] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: shard))
    }

    /// Missing, truncated and foreign journaled shard files are found on resume, logged, taken out
    /// of the journal and computed again; the store equals a clean run's.
    @Test func missingTruncatedAndForeignShardFilesAreRecomputedOnResume() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let (out, run, shards) = try Self.finishedRun(h, root: root)
        try FileManager.default.removeItem(atPath: shards + "/0-4.h5")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: shards + "/4-4.h5"))
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: shards + "/4-4.h5"))
        try FileManager.default.removeItem(atPath: shards + "/8-4.h5")
        try FileManager.default.copyItem(atPath: shards + "/12-4.h5", toPath: shards + "/8-4.h5")  // another shard's rows
        try FileManager.default.removeItem(atPath: out)

        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("this run: 12 images"), "\(rerun.stdout)")
        let unusable = rerun.stderr.split(separator: "\n").filter { $0.contains("a finished shard's file is unusable") }
        #expect(unusable.count == 3, "\(rerun.stderr)")
        #expect(unusable.contains { $0.contains("shard=0+4") && $0.contains("0-4.h5: no such file") })
        #expect(unusable.contains { $0.contains("shard=4+4") && $0.contains("4-4.h5") })
        #expect(unusable.contains { $0.contains("shard=8+4") && $0.contains("are not the rows of shard 8+4") })
        #expect(try StoreReadback.rows(of: out).rows == clean)
        let again = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(again.status == 0 && again.stdout.contains("this run: 0 images") && again.stderr.contains("unusable=0"), "\(again.stderr)")
    }

    /// A shard whose bytes changed after the resume check passed it: the merge finds the failing
    /// checksum, exits 1 naming the shard and writes no store; the next run computes that shard
    /// and finishes.
    @Test func aShardFailingItsChecksumAtTheMergeIsRecomputedByTheNextRun() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let (out, run, shards) = try Self.finishedRun(h, root: root)
        try Self.flipBit(inRow: 2, of: shards + "/4-4.h5")
        try FileManager.default.removeItem(atPath: out)

        let failed = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains("magfleet: \(shards)/4-4.h5: checksum mismatch in /embeddings"), "\(failed.stderr)")
        #expect(failed.stderr.contains("shard 4+4 is no longer counted as done: run the same command again"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(!T.files(in: h.directory).contains { $0.contains(".partial") })

        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("this run: 4 images"), "\(rerun.stdout)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }

    /// A shard patched with NaN (h5py keeps its checksums right) is never merged: exit 1 naming
    /// it, no store; the next run computes it and finishes.
    @Test(.enabled(if: PeerPython.path != nil, "no python with h5py+numpy: set MAGFLEET_PEER_PYTHON"))
    func aShardPatchedWithNaNIsRecomputedByTheNextRun() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let (out, run, shards) = try Self.finishedRun(h, root: root)
        let patch = """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], "r+") as f:
                f["embeddings"][1, 3] = np.nan
            """
        let patched = try PeerPython.run(PeerPython.path!, script: patch, arguments: [shards + "/12-4.h5"])
        #expect(patched.status == 0, "\(patched.output)")
        try FileManager.default.removeItem(atPath: out)

        let failed = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(failed.status == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains("\(shards)/12-4.h5: row 1 (global index 13) has a non-finite embedding"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0 && rerun.stdout.contains("this run: 4 images"), "\(rerun.stderr)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }

    /// Temporary files killed writers left are removed on the next start: every one among the
    /// shards, and the store's whose writer is gone; one a running process writes is kept, and
    /// another output's is not touched.
    @Test func temporaryFilesKilledWritersLeftAreRemovedOnTheNextStart() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let (out, run, shards) = try Self.finishedRun(h, root: root)
        let gone = try PartialFileProbe.deadPID(), running = getpid()  // this test process writes nothing there
        let planted = [shards + "/.8-4.h5.partial-\(running)-0A1B2C3D", h.directory + "/.store.h5.partial-\(gone)-0A1B2C3D",
                       h.directory + "/.store.h5.partial-\(running)-12345678", h.directory + "/.other.h5.partial-\(gone)-0A1B2C3D"]
        for path in planted { try FileManager.default.copyItem(atPath: shards + "/0-4.h5", toPath: path) }

        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(!FileManager.default.fileExists(atPath: planted[0]) && !FileManager.default.fileExists(atPath: planted[1]))
        #expect(FileManager.default.fileExists(atPath: planted[2]) && FileManager.default.fileExists(atPath: planted[3]))
        #expect(rerun.stderr.contains("removed a temporary file a killed writer left") && rerun.stderr.contains(planted[1]))
        #expect(rerun.stderr.contains("being written by a running process; left alone") && rerun.stderr.contains(planted[2]))

        // magfleet merge removes its output's leftovers too.
        let merged = h.directory + "/merged.h5"
        let left = h.directory + "/.merged.h5.partial-\(gone)-0A1B2C3D"
        try Data("x".utf8).write(to: URL(fileURLWithPath: left))
        let merge = try MagfleetProcess.run(["merge", "--run-dir", run, "--out", merged])
        #expect(merge.status == 0 && merge.stderr.contains("removed \(left)"), "\(merge.stderr)")
        #expect(!FileManager.default.fileExists(atPath: left))
    }
}

enum PartialFileProbe {
    /// A pid no process has now: one that ran and exited.
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }
}
