import Base
import FeatureStore
import Foundation
import Imaging
import TestSupport
import Testing
import Wire
import ZeroMQ
@testable import Cluster
import ClusterCore
import TestEmbedding

/// Journal, list streaming, shard files and the wire codec, on temporary files.
struct DurabilityTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "magfleet-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let model = TestEmbedder(dim: 3).model

    static func header(sha: String = "abc", shardSize: Int = 4) -> Journal.Header {
        Journal.Header(list: .init(sha256: sha, bytes: 10, rows: 9, labels: 0, labelsSHA256: ListSummary.digest(labelNames: [])),
                       model: model, shardSize: shardSize, listPath: "/l", root: nil)
    }

    @Test func journalResumesAndIgnoresATornLastLine() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = Self.header()
        do {
            let j = try Journal(directory: dir, header: header)
            #expect(j.recorded == nil)
            try j.record([ShardTally(key: ShardKey(first: 0, count: 4), embedded: 3, failed: 1, failuresByCategory: ["missing-file": 1])])
            try j.record([ShardTally(key: ShardKey(first: 8, count: 1), embedded: 1, failed: 0)])
        }
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/journal"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("done 4 4 4".utf8))  // a crash mid-append
        try handle.close()
        let j = try Journal(directory: dir, header: header)
        #expect(j.recorded == header)
        #expect(Set(j.entries.keys) == [ShardKey(first: 0, count: 4), ShardKey(first: 8, count: 1)])
        #expect(j.entries[ShardKey(first: 0, count: 4)]?.failuresByCategory == ["missing-file": 1])
        try j.record([ShardTally(key: ShardKey(first: 4, count: 4), embedded: 4, failed: 0)])
        // A retry's later line for the same shard replaces the earlier one.
        try j.record([ShardTally(key: ShardKey(first: 0, count: 4), embedded: 4, failed: 0)])
        let reopened = try Journal(directory: dir, header: header)
        #expect(reopened.entries.count == 3 && reopened.entries[ShardKey(first: 0, count: 4)]?.failed == 0)
        // Adopting a new header (another root) keeps every entry.
        var moved = header
        moved.root = "/mnt"
        try reopened.adopt(moved)
        let again = try Journal(directory: dir, header: moved)
        #expect(again.recorded == moved && again.entries.count == 3)
    }

    /// Issue 16, item 5: records go to the journal's end as it is when written (O_APPEND), not
    /// to an offset a writer remembered. Two writers on one journal (the run lock keeps a second
    /// coordinator out; a journal must not lose records anyway) keep every record.
    @Test func journalRecordsGoToTheEndWhoeverWroteLast() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = Self.header()
        let first = try Journal(directory: dir, header: header)
        let second = try Journal(directory: dir, header: header)  // both opened at the same end
        let keys = (0..<3).map { ShardKey(first: UInt64($0 * 4), count: 4) }
        try first.record([ShardTally(key: keys[0], embedded: 4, failed: 0)])
        try second.record([ShardTally(key: keys[1], embedded: 4, failed: 0)])
        try first.record([ShardTally(key: keys[2], embedded: 3, failed: 1, failuresByCategory: ["decode": 1])])
        let reopened = try Journal(directory: dir, header: header)
        #expect(Set(reopened.entries.keys) == Set(keys))
        #expect(reopened.entries[keys[2]]?.failuresByCategory == ["decode": 1])
    }

    @Test func resumeIsRefusedWhenAnInputDiffers() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorded = Self.header()
        func refusal(_ current: Journal.Header) -> String? {
            do {
                _ = try RunIdentity.resume(recorded, as: current, labelNames: [], listPath: dir + "/none", journalPath: "J")
                return nil
            } catch { return "\(error)" }
        }
        #expect(refusal(Self.header(shardSize: 8))?.contains("the shard size is 4 in this run directory but 8 now") == true)
        #expect(refusal(Self.header(sha: "def"))?.contains("--restart") == true)
        var flip = Self.header()
        flip.model.flip = true
        #expect(refusal(flip)?.contains("flip fusion is off") == true)
        var preset = Self.header()
        preset.model.preprocessing = "arcface"
        #expect(refusal(preset)?.contains("preset is magface in this run directory but arcface") == true)
        var root = Self.header()
        root.root = "/elsewhere"
        let resume = try RunIdentity.resume(recorded, as: root, labelNames: [], listPath: dir + "/none", journalPath: "J")
        #expect(resume == RunIdentity.Resume(grownFrom: nil, rootChanged: true))
    }

    @Test func aListThatOnlyGrewResumes() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = dir + "/list"
        func header(_ text: String) throws -> (Journal.Header, [String]) {
            try text.write(toFile: list, atomically: true, encoding: .utf8)
            let s = try ListSummary.scan(path: list)
            return (Journal.Header(list: .init(sha256: s.sha256, bytes: s.byteCount, rows: s.count, labels: s.labels.names.count,
                                               labelsSHA256: ListSummary.digest(labelNames: s.labels.names)),
                                   model: Self.model, shardSize: 4, listPath: list, root: nil), s.labels.names)
        }
        let (old, _) = try header("a alice\nb bob\n")
        let (grown, names) = try header("a alice\nb bob\nc carol\nd alice\n")
        #expect(try RunIdentity.resume(old, as: grown, labelNames: names, listPath: list, journalPath: "J").grownFrom == 2)
        let (edited, editedNames) = try header("a alice\nb bobby\nc carol\n")
        #expect(throws: ClusterError.self) { try RunIdentity.resume(old, as: edited, labelNames: editedNames, listPath: list, journalPath: "J") }
        // A last line without its newline that the new list completes differently is an edit.
        let (torn, _) = try header("a alice\nb bo")
        let (completed, completedNames) = try header("a alice\nb bob\n")
        #expect(throws: ClusterError.self) { try RunIdentity.resume(torn, as: completed, labelNames: completedNames, listPath: list, journalPath: "J") }
        // Integer ids are names like any other: appended names renumber nothing, the run resumes.
        let (ints, _) = try header("a 1\nb 0\n")
        let (named, namedNames) = try header("a 1\nb 0\nc carol\n")
        #expect(try RunIdentity.resume(ints, as: named, labelNames: namedNames, listPath: list, journalPath: "J").grownFrom == 2)
    }

    @Test func listStreamsIntoShardsSkippingWhatIsDone() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = dir + "/list"
        try "a\r\nb\n\n  \n# comment\nc\nd x\ne\nf 1 2\ng".write(toFile: list, atomically: true, encoding: .utf8)
        let summary = try ListSummary.scan(path: list)
        #expect(summary.count == 7 && summary.problems == 1)
        // 0..<3 done; of 3..<6 only 4 is done (split before a restart); 6 pending.
        let source = ShardSource(reader: try ListReader(path: list), summary: summary, shardSize: 3,
                                 done: [ShardKey(first: 0, count: 3), ShardKey(first: 4, count: 1)])
        var keys: [ShardKey] = []
        var items: [ShardItem] = []
        while case let shards = try source.next(), !shards.isEmpty {
            keys += shards.map(\.key)
            items += shards.flatMap(\.items)
        }
        #expect(keys == [ShardKey(first: 3, count: 1), ShardKey(first: 5, count: 1), ShardKey(first: 6, count: 1)])
        #expect(items.map(\.path) == ["d", "f", "g"])
        #expect(items[0].label == 0 && summary.labels.names == ["x"])  // typed: the label is resolved
        #expect(items[1].problem?.contains("found 3") == true)

        // A grown list: its old last shard 6+1 is done; the new rows 7, 8 come as one run.
        try "a\r\nb\n\n  \n# comment\nc\nd x\ne\nf 1 2\ng\nh\ni\n".write(toFile: list, atomically: true, encoding: .utf8)
        let grown = ShardSource(reader: try ListReader(path: list), summary: try ListSummary.scan(path: list), shardSize: 3,
                                done: [ShardKey(first: 0, count: 3), ShardKey(first: 3, count: 3), ShardKey(first: 6, count: 1)],
                                grownFrom: 7)
        #expect(try grown.next().map(\.key) == [ShardKey(first: 7, count: 2)])
        #expect(try grown.next().isEmpty)
    }

    @Test func shardFilesMergeAndRetriesPatchThem() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let provenance = StoreProvenance(
            modelFingerprint: Self.model.fingerprint, architecture: Self.model.architecture, embeddingDim: 3,
            preprocessingPreset: Self.model.preprocessing, flip: false, imageListSHA256: "sha", toolVersion: "test",
            randomWeights: true, labelNames: ["alice"])
        let sink = try FeatureStoreShardSink(directory: dir + "/shards", provenance: provenance, totalRows: 3)
        let a = ShardResult(key: ShardKey(first: 0, count: 2), dim: 3, rows: [
            ShardRow(index: 0, path: "x", label: 0, outcome: .embedding([0.25, -1, 3])),
            ShardRow(index: 1, path: "y", outcome: .failure(RowFailure(category: "missing-file", reason: "y: no such file"))),
        ])
        let b = ShardResult(key: ShardKey(first: 2, count: 1), dim: 3, rows: [ShardRow(index: 2, path: "z", outcome: .embedding([1e-7, 2, -0.5]))])
        _ = try sink.write(b)
        #expect(try sink.write(a) == ShardTally(key: a.key, embedded: 1, failed: 1, failuresByCategory: ["missing-file": 1]))
        #expect(try sink.failedRows(of: a.key) == [1: RowFailure(category: "missing-file", reason: "y: no such file")])
        let summary = try sink.merge([a.key, b.key], into: dir + "/store")
        #expect(summary == MergeSummary(destination: dir + "/store", rows: 3, embedded: 2, failed: 1))
        let (stored, rows) = try StoreReadback.rows(of: dir + "/store")
        #expect(stored.modelFingerprint == Self.model.fingerprint && stored.labelNames == ["alice"])
        #expect(rows == a.rows + b.rows)  // bit-exact float round trip, labels and categories kept
        #expect(throws: ClusterError.self) { try sink.merge([b.key], into: dir + "/bad") }

        // A retry of row 1 replaces it in a's file and keeps row 0.
        let fixed = ShardRow(index: 1, path: "y", outcome: .embedding([4, 5, 6]))
        let patch = ShardResult(key: a.key, dim: 3, rows: [fixed], patches: a.key)
        #expect(try sink.write(patch) == ShardTally(key: a.key, embedded: 2, failed: 0))
        _ = try sink.merge([a.key, b.key], into: dir + "/store2")
        #expect(try StoreReadback.rows(of: dir + "/store2").rows == [a.rows[0], fixed] + b.rows)
    }

    /// Issue 16, item 6: what a resume finds wrong with a journaled shard's file, cheaply;
    /// what only the merge finds (NaN, checksums) names the shard's key; `forget` takes shards
    /// out of the journal durably.
    @Test func journaledShardFilesAreCheckedAndADamagedOneIsNamedAtTheMerge() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let provenance = StoreProvenance(
            modelFingerprint: Self.model.fingerprint, architecture: Self.model.architecture, embeddingDim: 3,
            preprocessingPreset: Self.model.preprocessing, flip: false, imageListSHA256: "sha", toolVersion: "test",
            randomWeights: true, labelNames: [])
        let sink = try FeatureStoreShardSink(directory: dir + "/shards", provenance: provenance, totalRows: 8)
        func result(_ first: UInt64, nanAt: UInt64? = nil) -> ShardResult {
            ShardResult(key: ShardKey(first: first, count: 4), dim: 3, rows: (first..<(first + 4)).map { i in
                ShardRow(index: i, path: "p\(i)", outcome: i == 5 ? .failure(RowFailure(category: "decode", reason: "bad"))
                         : .embedding([Float(i), i == nanAt ? .nan : 1, -2]))
            })
        }
        let a = try sink.write(result(0)), b = try sink.write(result(4))
        #expect(sink.problem(with: a) == nil && sink.problem(with: b) == nil)
        let bPath = sink.url(of: b.key).path
        var counts = b
        counts.failed = 0
        #expect(sink.problem(with: counts)?.contains("3 embedded and 1 failed rows, the journal recorded 3 and 0") == true)
        try FileManager.default.removeItem(atPath: bPath)
        #expect(sink.problem(with: b) == "\(bPath): no such file")
        try FileManager.default.copyItem(atPath: sink.url(of: a.key).path, toPath: bPath)
        #expect(sink.problem(with: b)?.contains("are not the rows of shard 4+4") == true)
        try Data(try Data(contentsOf: sink.url(of: a.key)).prefix(3000)).write(to: URL(fileURLWithPath: bPath))
        #expect(sink.problem(with: b)?.hasPrefix(bPath) == true)

        _ = try sink.write(result(4, nanAt: 6))  // whole to the resume check; the merge reads the NaN
        #expect(sink.problem(with: b) == nil)
        do {
            _ = try sink.merge([a.key, b.key], into: dir + "/store.h5")
            Issue.record("merged a shard holding NaN")
        } catch let ClusterError.damagedShard(key, reason) {
            #expect(key == b.key && reason.contains("\(bPath): row 2 (global index 6) has a non-finite embedding"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/store.h5"))

        let journal = try Journal(directory: dir, header: Self.header())
        try journal.record([a, b])
        try journal.forget([b.key])
        #expect(Set(try Journal(directory: dir, header: Self.header()).entries.keys) == [a.key])
    }

    @Test func codecDropsMalformedOversizedAndBodilessFrames() throws {
        let hb = WireCodec.encode(WireCodec.envelope(.heartbeat(Heartbeat())))
        #expect(try WireCodec.decode(hb).kind == "Heartbeat")
        #expect(throws: WireError.self) { try WireCodec.decode([0xff, 0xff, 0xff, 0xff, 0x0f]) }
        #expect(throws: WireError.oversized(bytes: hb.count, limit: 1)) { try WireCodec.decode(hb, maxBytes: 1) }
        #expect(throws: WireError.emptyBody) { try WireCodec.decode([0x08, 0x01]) }  // version 1, no body
        var future = WireCodec.envelope(.heartbeat(Heartbeat()))
        future.protocolVersion = 9
        #expect(throws: WireError.unsupportedVersion(9)) { try WireCodec.decode(WireCodec.encode(future)) }
        // Random bytes never crash the decoder (they throw or decode to something).
        var rng = SeededGenerator(seed: 42)
        for n in 0..<500 {
            let bytes = (0..<(n % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? WireCodec.decode(bytes)
        }
    }

    @Test func testEmbedderIsDeterministicAndUnitLength() throws {
        let e = TestEmbedder(dim: 8)
        let x = try TestImageLoader.features(of: Array("hello".utf8)).get()
        let y = try TestImageLoader.features(of: Array("hellp".utf8)).get()
        let out = try e.embed(x + y, count: 2)
        #expect(try TestEmbedder(dim: 8).embed(x, count: 1) == Array(out[0..<8]))  // bit-identical
        let norm = out[0..<8].reduce(0) { $0 + $1 * $1 }
        #expect(abs(norm - 1) < 1e-5)  // float32 rounding of a unit vector
        #expect(Array(out[0..<8]) != Array(out[8..<16]))
        #expect(e.model.fingerprint.contains("NOT A MODEL"))
        if case .success = TestImageLoader.features(of: Array("MAGFLEET-TEST-FAIL".utf8)) { Issue.record("should fail") }
    }

    @Test func curveKeysRoundTripThroughFiles() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = try CurveKeyPair.generate()
        try keys.write(to: dir + "/k")
        #expect(try CurveKeyPair.read(secretFile: dir + "/k.key") == keys)
        #expect(try CurveKeyPair.readPublicKey(dir + "/k.pub") == keys.publicKey)
        #expect(try CurveKeyPair.readAllowlist(dir + "/k.pub") == [keys.publicKey])
        let raw = try CurveKeyPair.rawBytes(ofZ85: keys.publicKey)
        #expect(CurveKeyPair.z85(ofRaw: raw) == keys.publicKey)
        #expect(throws: ZeroMQError.self) { try CurveKeyPair.validate("short") }
    }
}
