import FeatureStore
import Foundation
import TestSupport
import Testing
import Wire
import ZeroMQ
@testable import Cluster

/// Journal, list streaming, shard files and the wire codec, on temporary files.
struct DurabilityTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "magfleet-cluster-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let model = TestEmbedder(dim: 3).model

    @Test func journalResumesAndIgnoresATornLastLine() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let header = Journal.Header(list: "/l", shardSize: 4, model: Self.model)
        do {
            let j = try Journal(directory: dir, header: header)
            try j.record(ShardKey(first: 0, count: 4), embedded: 3, failed: 1)
            try j.record(ShardKey(first: 8, count: 1), embedded: 1, failed: 0)
        }
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/journal"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("done 4 4 4".utf8))  // a crash mid-append
        try handle.close()
        let j = try Journal(directory: dir, header: header)
        #expect(Set(j.entries.keys) == [ShardKey(first: 0, count: 4), ShardKey(first: 8, count: 1)])
        #expect(j.entries[ShardKey(first: 0, count: 4)]?.failed == 1)
        try j.record(ShardKey(first: 4, count: 4), embedded: 4, failed: 0)
        let reopened = try Journal(directory: dir, header: header)
        #expect(reopened.entries.count == 3)
        #expect(throws: ClusterError.self) { try Journal(directory: dir, header: Journal.Header(list: "/other", shardSize: 4, model: Self.model)) }
    }

    @Test func listStreamsIntoShardsSkippingWhatIsDone() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let list = dir + "/list"
        try "a\r\nb\n\n  \n# comment\nc\nd\ne\nf\ng".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try ImageListReader.count(path: list) == 7)
        // 0..<3 done; of 3..<6 only 4 is done (split before a restart); 6 pending.
        let source = ShardSource(reader: try ImageListReader(path: list), shardSize: 3,
                                 done: [ShardKey(first: 0, count: 3), ShardKey(first: 4, count: 1)])
        var keys: [ShardKey] = []
        var paths: [String] = []
        while case let shards = try source.next(), !shards.isEmpty {
            keys += shards.map(\.key)
            paths += shards.flatMap(\.items).map(\.path)
        }
        #expect(keys == [ShardKey(first: 3, count: 1), ShardKey(first: 5, count: 1), ShardKey(first: 6, count: 1)])
        #expect(paths == ["d", "f", "g"])
    }

    @Test func shardFilesMergeIntoAStoreInIndexOrder() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "x\ny\nz\n".write(toFile: dir + "/list", atomically: true, encoding: .utf8)
        let provenance = StoreProvenance(
            modelFingerprint: Self.model.fingerprint, architecture: Self.model.architecture, embeddingDim: 3,
            preprocessingPreset: Self.model.preprocessing, flip: false, imageListSHA256: "", toolVersion: "test",
            randomWeights: true, labelNames: [])
        let sink = try FeatureStoreShardSink(directory: dir + "/shards", provenance: provenance, list: try ListSummary.scan(path: dir + "/list"))
        let a = ShardResult(key: ShardKey(first: 0, count: 2), dim: 3, rows: [
            ShardRow(index: 0, path: "x", outcome: .embedding([0.25, -1, 3])),
            ShardRow(index: 1, path: "y", outcome: .failure("bad")),
        ])
        let b = ShardResult(key: ShardKey(first: 2, count: 1), dim: 3, rows: [ShardRow(index: 2, path: "z", outcome: .embedding([1e-7, 2, -0.5]))])
        try sink.write(b)
        try sink.write(a)
        let summary = try sink.merge([a.key, b.key], model: Self.model, into: dir + "/store")
        #expect(summary == MergeSummary(destination: dir + "/store", rows: 3, embedded: 2, failed: 1))
        let (stored, rows) = try StoreReadback.rows(of: dir + "/store")
        #expect(stored.modelFingerprint == Self.model.fingerprint)
        #expect(rows == a.rows + b.rows)  // bit-exact float round trip
        #expect(throws: ClusterError.self) { try sink.merge([b.key], model: Self.model, into: dir + "/bad") }
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
        var state: UInt64 = 42
        for n in 0..<500 {
            let bytes = (0..<(n % 64)).map { _ in UInt8(truncatingIfNeeded: splitmix(&state)) }
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
