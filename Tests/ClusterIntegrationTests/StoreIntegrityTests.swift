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

    /// `magfleet extract` of the harness's list with the test embedder, shards of 4 rows.
    static func extract(_ h: ClusterHarness, root: String, out: String, runDirectory: String, _ extra: [String] = []) throws -> MagfleetProcess.Result {
        try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", out, "--run-dir", runDirectory, "--root", root,
                                 "--workers", "2", "--embedder", "test", "--shard-size", "4"] + ClusterHarness.timers + extra,
                                timeout: 60)
    }

    /// The rows of a run of the same list into a fresh run directory: what every repaired run must give.
    static func cleanRun(_ h: ClusterHarness, root: String) throws -> [ShardRow] {
        let out = h.directory + "/clean.h5"
        let result = try extract(h, root: root, out: out, runDirectory: h.directory + "/clean.run")
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
        let clean = try T.cleanRun(h, root: root)
        let disk = try ScratchMount(size: "1m")  // the journal and a few shard files, not all four
        defer { disk.unmount() }
        let run = disk.path + "/run", out = h.directory + "/store.h5"
        let full = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("magfleet: \(run)/shards/") && full.stderr.contains(".h5: No space left on device"), "\(full.stderr)")
        #expect(!T.files(in: run + "/shards").contains { $0.contains(".partial") })
        #expect(!FileManager.default.fileExists(atPath: out))
        try disk.resize("8m")
        let rerun = try T.extract(h, root: root, out: out, runDirectory: run)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }

    @Test func magfleetMergeOntoAFullDiskFailsCleanly() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = try T.makeDataset(h)
        let clean = try T.cleanRun(h, root: root)
        let shards = T.files(in: h.directory + "/clean.run/shards").map { h.directory + "/clean.run/shards/" + $0 }
        let disk = try ScratchMount(size: "128k")
        defer { disk.unmount() }
        let out = disk.path + "/merged.h5"
        let full = try MagfleetProcess.run(["merge"] + shards + ["--out", out])
        #expect(full.status == 1, "\(full.stderr)")
        #expect(full.stderr.contains("magfleet: merge: \(out): No space left on device"), "\(full.stderr)")
        #expect(T.files(in: disk.path) == [])
        try disk.resize("8m")
        let merged = try MagfleetProcess.run(["merge"] + shards + ["--out", out])
        #expect(merged.status == 0, "\(merged.stderr)")
        #expect(try StoreReadback.rows(of: out).rows == clean)
    }
}
