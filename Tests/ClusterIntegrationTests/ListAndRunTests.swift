import FeatureStore
import Foundation
import Testing
import TestSupport
@testable import Cluster
import TestEmbedding

/// Issue "One image list, one run identity": each seam a new user hit, run as they ran it, with
/// real processes. Images are small files the test embedder hashes; paths are relative to a root.
@Suite struct ListAndRunTests {
    /// Writes `ids/<name>/<n>.bin` for `identities` x `per` and `distractors/<n>.bin`, under
    /// `root`, and a list of `path label` lines (distractors unlabelled). Returns the lines.
    @discardableResult
    static func makeDataset(_ h: ClusterHarness, root: String, identities: Int = 3, per: Int = 4, distractors: Int = 4,
                            list: String? = nil) throws -> [String] {
        var lines: [String] = []
        let fm = FileManager.default
        func write(_ relative: String) throws {
            let url = URL(fileURLWithPath: root + "/" + relative)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("image \(relative)".utf8).write(to: url)
        }
        for i in 0..<identities {
            for n in 0..<per {
                let path = "ids/person_\(i)/\(n).bin"
                try write(path)
                lines.append("\(path) person_\(i)")
            }
        }
        for n in 0..<distractors {
            let path = "distractors/\(n).bin"
            try write(path)
            lines.append(path)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: list ?? h.listPath, atomically: true, encoding: .utf8)
        return lines
    }

    static func run(_ args: [String]) throws -> MagfleetProcess.Result { try MagfleetProcess.run(args, timeout: 60) }

    /// `extract` with the test embedder, keeping the run directory (these tests resume it)
    /// unless `keepRunDirectory` is false.
    static func extract(_ h: ClusterHarness, root: String, _ extra: [String] = [], keepRunDirectory: Bool = true) throws -> MagfleetProcess.Result {
        try run(["extract", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory, "--root", root,
                 "--workers", "2", "--embedder", "test", "--shard-size", "4"] + ClusterHarness.timers + extra
                + (keepRunDirectory ? ["--keep-run-dir"] : []))
    }

    /// The end-of-run merge holds a few files open whatever the number of shards: 300 shards
    /// under `ulimit -n 96` (the old merge opened them all and failed as "not an HDF5 file").
    @Test func aRunOfMoreShardsThanItsDescriptorLimitFinishes() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let lines = (0..<1_200).map { "synthetic:faces/\($0).jpg" + ($0 < 40 ? " id\($0 % 4)" : "") }
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        let result = try MagfleetProcess.run(["extract", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                              "--workers", "2", "--embedder", "test", "--shard-size", "4", "--no-progress"]
                                             + ClusterHarness.timers, timeout: 120, descriptorLimit: 96)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("merged 1200 rows (1200 embedded, 0 failed)"), "\(result.stdout)")
        let (provenance, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows.count == 1_200 && provenance.labelNames == ["id0", "id1", "id2", "id3"])
        #expect(rows.prefix(8).map(\.label) == [0, 1, 2, 3, 0, 1, 2, 3] && rows[40].label == -1)
    }

    /// A run without failed rows removes its run directory once the store reads back whole, and
    /// says so; the same command again finds the store complete and does nothing; --restart
    /// computes it again. A run with failed rows keeps its run directory for --retry-failed.
    @Test func aFinishedRunRemovesItsRunDirectoryOnceTheStoreReadsBack() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        let lines = try Self.makeDataset(h, root: root)
        let first = try Self.extract(h, root: root, keepRunDirectory: false)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("the store reads back whole; removed the run directory (--keep-run-dir keeps it)"), "\(first.stderr)")
        #expect(!FileManager.default.fileExists(atPath: h.runDirectory))
        try h.expectCompleteStore(count: 16, root: root + "/")
        let again = try Self.extract(h, root: root, keepRunDirectory: false)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("the store is already complete for this list and model; nothing to do"), "\(again.stderr)")
        #expect(again.stdout.contains("merged 16 rows (16 embedded, 0 failed)") && again.stdout.contains("this run: 0 images"))
        #expect(!FileManager.default.fileExists(atPath: h.runDirectory))
        let restarted = try Self.extract(h, root: root, ["--restart"], keepRunDirectory: false)
        #expect(restarted.status == 0 && restarted.stdout.contains("this run: 16 images"), "\(restarted.stdout)")

        try FileManager.default.removeItem(atPath: root + "/" + lines[3].split(separator: " ")[0])
        let failing = try Self.extract(h, root: root, ["--restart", "--max-failures", "1"], keepRunDirectory: false)
        #expect(failing.status == 0, "\(failing.stderr)")
        #expect(failing.stderr.contains("kept the run directory: rows failed, and --retry-failed recomputes them from it"))
        #expect(FileManager.default.fileExists(atPath: h.runDirectory + "/journal"))
        #expect(try String(contentsOfFile: h.runDirectory + "/label_names", encoding: .utf8) == "person_0\nperson_1\nperson_2\n")
    }

    /// `extract --root` one folder too high: refused before any worker starts, no store; the
    /// right root then embeds every row.
    @Test func aWrongRootIsRefusedBeforeTheRunStarts() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/data/images"
        try Self.makeDataset(h, root: root)
        let wrong = try Self.extract(h, root: h.directory + "/data")
        #expect(wrong.status == 1, "\(wrong.stderr)")
        #expect(wrong.stderr.contains("none of the 16 list rows sampled is readable under --root \(h.directory)/data"))
        #expect(wrong.stderr.contains("is --root right?"))
        #expect(!FileManager.default.fileExists(atPath: h.storePath))
        let right = try Self.extract(h, root: root)
        #expect(right.status == 0, "\(right.stderr)")
        #expect(right.stdout.contains("merged 16 rows (16 embedded, 0 failed)"))
        try h.expectCompleteStore(count: 16, root: root + "/")
    }

    /// A run whose rows failed (files missing under the first root) exits 3 past
    /// --max-failures; the rerun with the right --root retries exactly the failed rows.
    @Test func aChangedRootRetriesTheFailedRows() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let full = h.directory + "/full", partial = h.directory + "/partial"
        let lines = try Self.makeDataset(h, root: full)
        try Self.makeDataset(h, root: partial, list: h.directory + "/ignored.list")
        for line in lines.prefix(5) {  // five files are missing under the partial root
            try FileManager.default.removeItem(atPath: partial + "/" + line.split(separator: " ")[0])
        }
        let first = try Self.extract(h, root: partial)
        #expect(first.status == 3, "\(first.stderr)")
        #expect(first.stdout.contains("merged 16 rows (11 embedded, 5 failed)"))
        #expect(first.stdout.contains("failed rows by category: missing-file 5"))
        #expect(first.stderr.contains("5 failed rows exceed --max-failures 1%"))
        // Within a generous limit the same outcome exits 0 (nothing is recomputed).
        let tolerated = try Self.extract(h, root: partial, ["--max-failures", "5"])
        #expect(tolerated.status == 0 && tolerated.stdout.contains("this run: 0 images"), "\(tolerated.stderr)")
        let fixed = try Self.extract(h, root: full)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(fixed.stdout.contains("merged 16 rows (16 embedded, 0 failed)"))
        #expect(fixed.stdout.contains("this run: 5 images"))
        try h.expectCompleteStore(count: 16, root: full + "/")
        // --retry-failed on a run with nothing failed computes nothing.
        let again = try Self.extract(h, root: full, ["--retry-failed"])
        #expect(again.status == 0 && again.stdout.contains("this run: 0 images"))
    }

    /// --retry-failed recomputes exactly the failed rows of a finished run (here: the files were
    /// restored in place), patching their shard files; a malformed line fails again at once.
    @Test func retryFailedRecomputesOnlyTheFailedRows() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        var lines = try Self.makeDataset(h, root: root)
        lines.append("ids/person_0/x.bin person_0 1 2")  // malformed
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        let hidden = [1, 6, 13].map { root + "/" + lines[$0].split(separator: " ")[0] }
        for path in hidden { try FileManager.default.moveItem(atPath: path, toPath: path + ".away") }
        let first = try Self.extract(h, root: root, ["--max-failures", "10"])
        #expect(first.status == 0 && first.stdout.contains("merged 17 rows (13 embedded, 4 failed)"), "\(first.stderr)")
        for path in hidden { try FileManager.default.moveItem(atPath: path + ".away", toPath: path) }
        let again = try Self.extract(h, root: root, ["--max-failures", "10"])
        #expect(again.stdout.contains("this run: 0 images"))  // no retry unless asked (same root)
        let retried = try Self.extract(h, root: root, ["--retry-failed", "--max-failures", "1"])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect(retried.stdout.contains("merged 17 rows (16 embedded, 1 failed)"))
        #expect(retried.stdout.contains("this run: 3 images") && retried.stdout.contains("malformed-line 1"))
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows.filter { $0.failure != nil }.map(\.index) == [16])
        let expected = try Data(contentsOf: URL(fileURLWithPath: hidden[0]))
        let embedder = TestEmbedder(dim: 8)
        #expect(rows[1].outcome == .embedding(try embedder.embed(try TestImageLoader.features(of: Array(expected)).get(), count: 1)))
    }

    /// An edited list is another run: refused with the field and both values; --restart starts
    /// over. A list that only grew resumes and computes only its new lines.
    @Test func anEditedListIsRefusedAndAGrownListResumes() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        var lines = try Self.makeDataset(h, root: root)
        #expect(try Self.extract(h, root: root).status == 0)
        var edited = lines
        edited.swapAt(0, 1)
        edited.removeLast(5)
        try (edited.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        let refused = try Self.extract(h, root: root)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("the image list's content is SHA-256"))
        #expect(refused.stderr.contains("(16 rows,") && refused.stderr.contains("(11 rows,"))
        #expect(refused.stderr.contains("--restart"))
        let restarted = try Self.extract(h, root: root, ["--restart"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        #expect(restarted.stdout.contains("merged 11 rows (11 embedded, 0 failed)"))

        // Grow the original list: 16 rows done, 5 new ones (a new identity among them).
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        #expect(try Self.extract(h, root: root, ["--restart"]).status == 0)
        for n in 0..<5 {
            let path = "ids/person_new/\(n).bin"
            try FileManager.default.createDirectory(atPath: root + "/ids/person_new", withIntermediateDirectories: true)
            try Data("image \(path)".utf8).write(to: URL(fileURLWithPath: root + "/" + path))
            lines.append("\(path) person_new")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        let grown = try Self.extract(h, root: root)
        #expect(grown.status == 0, "\(grown.stderr)")
        #expect(grown.stdout.contains("merged 21 rows (21 embedded, 0 failed)"))
        #expect(grown.stdout.contains("this run: 5 images"))
        try h.expectCompleteStore(count: 21, root: root + "/")
        let (provenance, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(provenance.imageListSHA256 == (try ListSummaryFile.sha256(h.listPath)))
        #expect(provenance.labelNames == ["person_0", "person_1", "person_2", "person_new"])
        #expect(rows.map(\.label) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, -1, -1, -1, -1, 3, 3, 3, 3, 3])
    }

    /// `--ship-images` with `path label` lines: the coordinator reads the path, not the line;
    /// a worker that sees no files embeds them all. A worker with another preset is refused.
    @Test func shippedLabelledRowsAreEmbeddedAndAMixedPresetIsRefused() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        try Self.makeDataset(h, root: root)
        try h.startCoordinator(["--ship-images", "--root", root])
        try h.startWorker("arcface", ["--preset", "arcface"])
        #expect(try h.waitForExit("arcface", seconds: 30) == 2)
        #expect(h.log("arcface").contains("preprocessing arcface != magface"))
        try h.startWorker("flip", ["--flip"])
        #expect(try h.waitForExit("flip", seconds: 30) == 2)
        #expect(h.log("flip").contains("flip true != false"))
        try h.startWorker("w1", ["--root", "/nonexistent"])
        #expect(try h.waitForExit("coordinator", seconds: 60) == 0, "\(h.allLogs)")
        #expect(h.log("coordinator").contains("merged 16 rows (16 embedded, 0 failed)"))
        try h.expectCompleteStore(count: 16, root: root + "/")
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows.prefix(4).allSatisfy { $0.label == 0 } && rows.suffix(4).allSatisfy { $0.label == -1 })
    }

    /// `--preset` and `--flip` on extract reach the store; a run where every row failed exits 3
    /// whatever --max-failures says.
    @Test func presetAndFlipAreRecordedAndAllFailedIsNeverSuccess() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        try Self.makeDataset(h, root: root, identities: 2, per: 2, distractors: 1)
        let ok = try Self.extract(h, root: root, ["--preset", "arcface", "--flip"])
        #expect(ok.status == 0, "\(ok.stderr)")
        let provenance = try StoreReadback.rows(of: h.storePath).provenance
        #expect(provenance.preprocessingPreset == "arcface" && provenance.flip)
        // The same run directory with another preset is another run.
        let other = try Self.extract(h, root: root)
        #expect(other.status == 1 && other.stderr.contains("the preprocessing preset is arcface in this run directory but magface"),
                "\(other.stderr)")

        for line in try String(contentsOfFile: h.listPath, encoding: .utf8).split(separator: "\n") {
            try Data("MAGFLEET-TEST-FAIL".utf8).write(to: URL(fileURLWithPath: root + "/" + line.split(separator: " ")[0]))
        }
        let failed = try Self.extract(h, root: root, ["--restart", "--max-failures", "100%"])
        #expect(failed.status == 3, "\(failed.stderr)")
        #expect(failed.stdout.contains("merged 5 rows (0 embedded, 5 failed)") && failed.stderr.contains("every row failed"))
    }

    /// A FIFO among the images fails its row ("not a regular file: fifo") in `images check` and
    /// in a run, at once: nothing blocks on it.
    @Test func aFifoAmongTheImagesFailsItsRowAndBlocksNothing() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        let lines = try Self.makeDataset(h, root: root, identities: 2, per: 3, distractors: 2)
        let fifo = root + "/" + lines[2].split(separator: " ")[0]
        try FileManager.default.removeItem(atPath: fifo)
        #expect(mkfifo(fifo, 0o600) == 0)
        let check = try Self.run(["images", "check", "--list", h.listPath, "--root", root])
        #expect(check.status == 1 && check.stdout.contains("not a regular file: fifo"), "\(check.stdout)")
        let run = try Self.extract(h, root: root, ["--max-failures", "1"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("merged 8 rows (7 embedded, 1 failed)") && run.stdout.contains("unreadable 1"))
        let (_, rows) = try StoreReadback.rows(of: h.storePath)
        #expect(rows[2].failure?.reason.contains("not a regular file: fifo") == true)
    }

    /// One coordinator per run directory: a second one is refused, naming the holder.
    @Test func aSecondCoordinatorOnTheSameRunDirectoryIsRefused() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        try Self.makeDataset(h, root: h.directory + "/images")
        try h.startCoordinator(["--root", h.directory + "/images"])
        try h.wait(30, "the first coordinator to serve") { h.log("coordinator").contains("coordinator serving") }
        let pid = h.processes["coordinator"]!.processIdentifier
        let second = try Self.run(["coordinator", "--list", h.listPath, "--out", h.storePath, "--run-dir", h.runDirectory,
                                   "--bind", "tcp://127.0.0.1:*", "--embedder", "test"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("is in use by another coordinator (pid \(pid) on host"), "\(second.stderr)")
    }
}

extension ListAndRunTests {
    /// The whole path, every way in: labelled, landmark and distractor lines through
    /// `extract`, through `coordinator --ship-images` (where a worker with another preset is
    /// refused first), through export -> `import --labels-from-dirs`, and `reduce` of the
    /// features.list as it is. Every way gives the same rows, the same labels and the same metrics.
    @Test func everyWayInAgreesOnLabelsAndMetrics() throws {
        let h = try ClusterHarness()
        defer { h.shutdown() }
        let root = h.directory + "/images"
        var lines = try Self.makeDataset(h, root: root, identities: 4, per: 5, distractors: 8)
        // Two probes carry landmarks (the test embedder hashes bytes; the items still carry them).
        let marks = "38.3 51.7 73.5 51.5 56.0 71.7 41.5 92.4 70.7 92.2"
        lines[1] += " " + marks
        lines[7] += " " + marks
        lines.append("ids/person_0/broken.bin person_0 1 2 3")  // malformed: a failed row everywhere
        try (lines.joined(separator: "\n") + "\n").write(toFile: h.listPath, atomically: true, encoding: .utf8)
        let extracted = h.directory + "/extract.h5"
        let e = try Self.run(["extract", "--list", h.listPath, "--out", extracted, "--root", root, "--workers", "2",
                              "--embedder", "test", "--shard-size", "8", "--max-failures", "1"] + ClusterHarness.timers)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("merged 29 rows (28 embedded, 1 failed)") && e.stdout.contains("malformed-line 1"))

        try h.startCoordinator(["--ship-images", "--root", root, "--shard-size", "8", "--max-failures", "1"])
        try h.startWorker("arcface", ["--preset", "arcface"])
        #expect(try h.waitForExit("arcface", seconds: 30) == 2)
        try h.startWorker("w", ["--root", "/nonexistent"])
        #expect(try h.waitForExit("coordinator", seconds: 60) == 0, "\(h.allLogs)")
        let shipped = try StoreReadback.rows(of: h.storePath)
        let local = try StoreReadback.rows(of: extracted)
        #expect(shipped.rows == local.rows)  // same embeddings, paths, labels and failures
        #expect(local.provenance.labelNames == ["person_0", "person_1", "person_2", "person_3"])
        #expect(local.rows.suffix(9).prefix(8).allSatisfy { $0.label == -1 })
        #expect(local.rows.last?.failure?.category == "malformed-line")

        let features = h.directory + "/features.list"
        #expect(try Self.run(["export", extracted, "--format", "features-list", "--out", features]).status == 0)
        let imported = h.directory + "/imported.h5"
        let i = try Self.run(["import", features, "--format", "features-list", "--out", imported, "--labels-from-dirs"])
        #expect(i.status == 0, "\(i.stderr)")
        let fromFolders = try StoreReadback.rows(of: imported)
        let okRows = local.rows.filter { $0.failure == nil }
        #expect(fromFolders.rows.map(\.label) == okRows.map(\.label))  // distractors/ is not an identity
        #expect(fromFolders.provenance.labelNames == local.provenance.labelNames)

        var tables: [String] = []
        for (n, input) in [extracted, h.storePath, imported, features].enumerated() {
            let r = try Self.run(["reduce", input, "--out", h.directory + "/report\(n)"])
            #expect(r.status == 0, "\(input): \(r.stderr)")
            tables.append(r.stdout)
        }
        #expect(tables[0].contains("ROC-AUC"))
        // The extracted stores record the test embedder as random weights, and the table says
        // so in its first row; the import and the features.list record no model.
        let modelRow = "| Model | test-hash (NOT A MODEL) | Weights | **RANDOM WEIGHTS: not a face recognizer** |\n"
        #expect(tables.map { $0.contains(modelRow) } == [true, true, false, false], "\(tables)")
        #expect(Set(tables.map { $0.replacingOccurrences(of: modelRow, with: "") }).count == 1, "\(tables)")
    }
}

/// SHA-256 of a file, as the store records the list's.
enum ListSummaryFile {
    static func sha256(_ path: String) throws -> String {
        try ListSummary.scan(path: path).sha256
    }
}

import Imaging
