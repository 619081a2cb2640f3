import FeatureStore
import Foundation
import Testing

/// h5py (the peer every Python user has) reads what magfleet writes, each dataset with one line.
@Suite(.enabled(if: peerPython != nil, "no python with h5py+numpy: set MAGFLEET_PEER_PYTHON (CI installs h5py)"))
struct H5pyPeerTests {
    static let dump = """
        import sys, json, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        out = {
          "embeddings": f["embeddings"][:].astype(np.float64).tolist(),
          "embeddings_dtype": str(f["embeddings"].dtype),
          "norms": f["norms"][:].astype(np.float64).tolist(),
          "paths": list(f["paths"].asstr()[:]),
          "labels": f["labels"][:].tolist(),
          "labels_dtype": str(f["labels"].dtype),
          "label_names": list(f["label_names"].asstr()[:]) if "label_names" in f else None,
          "status": f["status"][:].tolist(),
          "failure_reasons": list(f["failure_reasons"].asstr()[:]),
          "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()},
          "chunks": list(f["embeddings"].chunks),
          "compression": f["embeddings"].compression,
          "fletcher32": sorted(k for k in f if f[k].fletcher32),
        }
        if "indices" in f: out["indices"] = f["indices"][:].tolist()
        print(json.dumps(out))
        """

    func dump(_ url: URL) throws -> [String: Any] {
        let result = try runPython(peerPython!, script: Self.dump, arguments: [url.path])
        #expect(result.status == 0, "\(result.output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
    }

    @Test(arguments: [false, true]) func h5pyReadsIdenticalArraysAndStrings(compress: Bool) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.h5")
        let rows = randomRows(41, dim: 16, seed: 40)
        try writeStore(rows, dim: 16, to: url, options: .init(chunkRows: 16, compress: compress))
        let out = try dump(url)
        let embeddings = try #require(out["embeddings"] as? [[Double]])
        #expect(embeddings.flatMap { $0 }.map { Float($0) } == rows.embeddings)  // exact: float32 -> float64 -> float32
        #expect(out["embeddings_dtype"] as? String == "float32")
        #expect(out["labels_dtype"] as? String == "int64")
        #expect(out["paths"] as? [String] == rows.paths)
        #expect(out["labels"] as? [Int] == rows.labels.map { Int($0) })
        #expect(out["label_names"] as? [String] == ["alice", "bob", "Zoë"])
        #expect(out["status"] as? [Int] == rows.statuses.map { $0.isOK ? 0 : 1 })
        #expect(out["failure_reasons"] as? [String] == rows.statuses.map { if case let .failed(r) = $0 { r } else { "" } })
        let norms = try FeatureStoreReader(url: url).norms()
        #expect((out["norms"] as? [Double])?.map { Float($0) } == norms)
        let attrs = try #require(out["attrs"] as? [String: Any])
        #expect(attrs["magfleet_format"] as? String == "magfleet-feature-store")
        #expect(attrs["format_version"] as? Int == 1)
        #expect(attrs["model_fingerprint"] as? String == "sha256:feedface")
        #expect(attrs["embedding_dim"] as? Int == 16)
        #expect(attrs["flip"] as? Int == 1)
        #expect(attrs["complete"] as? Int == 1)
        #expect(attrs["count"] as? Int == 41 && attrs["failed_count"] as? Int == 8)
        #expect(out["chunks"] as? [Int] == [16, 16])
        #expect((out["compression"] as? String) == (compress ? "gzip" : nil))
        // Checksummed: every dataset of fixed-size elements (HDF5 takes no filter on strings).
        #expect(out["fletcher32"] as? [String] == ["embeddings", "labels", "norms", "status"])
    }

    @Test func h5pyReadsShardIndicesAndAnnExport() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("shard.h5")
        let writer = ShardWriter(url: url, provenance: provenance(dim: 3), totalRows: 100)
        for g in [42, 7, 99] { try writer.add(index: g, path: "img\(g)", label: 1, embedding: [Float(g), 1, -2]) }
        try writer.finish()
        let out = try dump(url)
        #expect(out["indices"] as? [Int] == [7, 42, 99])
        #expect(out["fletcher32"] as? [String] == ["embeddings", "indices", "labels", "norms", "status"])
        #expect(out["paths"] as? [String] == ["img7", "img42", "img99"])
        #expect((out["attrs"] as? [String: Any])?["kind"] as? String == "shard")
        #expect((out["attrs"] as? [String: Any])?["total_rows"] as? Int == 100)
        #expect(out["label_names"] is NSNull, "a shard keeps no label names: its run directory has them once")
        #expect((out["attrs"] as? [String: Any])?["image_list_sha256"] == nil)

        let base = try NumpyArray.read(try fixture("search_base.npy"))
        let store = dir.appendingPathComponent("s.h5")
        try writeStore(StoreRows(embeddings: base.values, paths: (0..<300).map { "p\($0)" }, labels: Array(repeating: -1, count: 300),
                                 statuses: Array(repeating: .ok, count: 300)), dim: 32, to: store)
        let ann = dir.appendingPathComponent("ann.hdf5")
        _ = try ANNBenchmarks.export(try FeatureStoreReader(url: store), to: ann, testCount: 12, neighbors: 10)
        // ann-benchmarks' own check, in numpy float64: neighbors are the exact angular top 10.
        let check = """
            import sys, h5py, numpy as np
            f = h5py.File(sys.argv[1], "r")
            assert f.attrs["distance"] == "angular", f.attrs["distance"]
            tr, te = f["train"][:].astype(np.float64), f["test"][:].astype(np.float64)
            tr /= np.linalg.norm(tr, axis=1, keepdims=True); te /= np.linalg.norm(te, axis=1, keepdims=True)
            d = 1 - te @ tr.T
            ref = np.argsort(d, axis=1, kind="stable")[:, :10]
            assert (f["neighbors"][:] == ref).all(), (f["neighbors"][:], ref)
            assert np.abs(f["distances"][:] - np.take_along_axis(d, ref, 1)).max() < 1e-5
            print("ok", f["train"].shape, f["test"].shape)
            """
        let result = try runPython(peerPython!, script: check, arguments: [ann.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("ok (288, 32) (12, 32)"))
    }
}
