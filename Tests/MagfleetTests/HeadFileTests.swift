import Tensor
import Evaluation
import FeatureStore
import Foundation
import Testing
import TestSupport
@testable import magfleet
import Base

/// head.h5 (Sources/magfleet/HeadFile.swift): bit-exact round trip, h5py reads the same arrays
/// in PyTorch's layout, and files that are not heads are refused with a clear message.
@Suite struct HeadFileTests {
    /// A head with random weights (never zero) plus values that a lossy path would change:
    /// -0.0, a subnormal, the largest float, and non-ASCII label names.
    static func sampleHead(d: Int = 9, h: Int = 6, labels: [String] = ["alice", "Zoë", "李", "bob"]) -> HeadFile {
        var rng = SeededGenerator(seed: 42)
        var w = HeadWeights(inputDimension: d, hidden: h, labelNames: labels, using: &rng)
        w.w1[0] = -0.0
        w.w1[1] = Float.leastNonzeroMagnitude
        w.b2[0] = Float.greatestFiniteMagnitude
        return HeadFile(weights: w, dropout: 0.3, seed: 0xDEAD_BEEF_0000_0001, epochs: 30, bestEpoch: 17, source: "runs/ü/features.h5")
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-head-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func roundTripIsBitExact() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("head.h5")
        let head = Self.sampleHead()
        try head.write(to: url)
        let back = try HeadFile.read(from: url)
        #expect(back == head)
        for (a, b) in [(back.weights.w1, head.weights.w1), (back.weights.b1, head.weights.b1), (back.weights.w2, head.weights.w2), (back.weights.b2, head.weights.b2)] {
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern))  // -0.0 == 0.0 as floats: compare bits
        }
        // Written atomically: only head.h5 is left in the directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["head.h5"])
        // Rewriting replaces the file.
        var other = head
        other.bestEpoch = 3
        try other.write(to: url)
        #expect(try HeadFile.read(from: url).bestEpoch == 3)
    }

    static let dump = """
        import sys, json, h5py, numpy as np
        f = h5py.File(sys.argv[1], "r")
        out = {name: {"dtype": f[name].dtype.str, "shape": list(f[name].shape),
                      "bits": f[name][:].view(np.uint32).ravel().tolist()}
               for name in ["fc1/weight", "fc1/bias", "fc2/weight", "fc2/bias"]}
        out["label_names"] = list(f["label_names"].asstr()[:])
        out["attrs"] = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        x = np.asarray(json.loads(sys.argv[2]), dtype=np.float64).reshape(-1, f["fc1/weight"].shape[1])
        hid = np.maximum(x @ f["fc1/weight"][:].T.astype(np.float64) + f["fc1/bias"][:], 0)
        z = hid @ f["fc2/weight"][:].T.astype(np.float64) + f["fc2/bias"][:]
        p = np.exp(z - z.max(axis=1, keepdims=True)); p /= p.sum(axis=1, keepdims=True)
        out["probabilities"] = p.ravel().tolist()
        print(json.dumps(out))
        """

    @Test(.enabled(if: PeerPython.path != nil, "no python with h5py+numpy: set MAGFLEET_PEER_PYTHON (CI installs h5py)"))
    func h5pyReadsTheSameArraysInPyTorchLayout() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("head.h5")
        var head = Self.sampleHead()
        head.weights.b2[0] = 0.25  // keep the logits finite for the numpy forward below
        try head.write(to: url)
        let w = head.weights
        // 3 unit-length inputs, never zero.
        let x: [Float] = (0..<(3 * w.inputDimension)).map { Float(sin(Double($0) + 0.5)) / Float(w.inputDimension).squareRoot() }
        let inputs = String(decoding: try JSONSerialization.data(withJSONObject: x.map(Double.init)), as: UTF8.self)
        let result = try PeerPython.run(PeerPython.path!, script: Self.dump, arguments: [url.path, inputs])
        try #require(result.status == 0, "\(result.output)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let expected: [(String, [Int], [Float])] = [
            ("fc1/weight", [w.hidden, w.inputDimension], w.w1), ("fc1/bias", [w.hidden], w.b1),
            ("fc2/weight", [w.classes, w.hidden], w.w2), ("fc2/bias", [w.classes], w.b2),
        ]
        for (name, shape, values) in expected {
            let array = try #require(out[name] as? [String: Any], "\(name)")
            #expect(array["dtype"] as? String == "<f4", "\(name)")
            #expect(array["shape"] as? [Int] == shape, "\(name)")
            #expect((array["bits"] as? [Int])?.map { UInt32($0) } == values.map(\.bitPattern), "\(name): bit-exact")
        }
        #expect(out["label_names"] as? [String] == w.labelNames)
        let attrs = try #require(out["attrs"] as? [String: Any])
        #expect(attrs["format"] as? String == "magfleet-head")
        #expect(attrs["format_version"] as? Int == 1)
        #expect(attrs["input_dim"] as? Int == w.inputDimension && attrs["hidden"] as? Int == w.hidden && attrs["classes"] as? Int == w.classes)
        #expect(attrs["dropout"] as? Double == 0.3)  // the float32 option as its shortest decimal
        #expect(attrs["seed"] as? Int == Int(Int64(bitPattern: 0xDEAD_BEEF_0000_0001)))
        #expect(attrs["epochs"] as? Int == 30 && attrs["best_epoch"] as? Int == 17)
        #expect(attrs["source"] as? String == "runs/ü/features.h5")
        // numpy's float64 forward over the h5py arrays gives magfleet's probabilities.
        let p = try #require(out["probabilities"] as? [Double])
        let mine = w.probabilities(x, rows: 3)
        #expect(p.count == mine.count)
        // Tolerance: float32 forward (BLAS) vs float64 numpy on 9-dim inputs, probabilities in [0, 1].
        for (a, b) in zip(mine, p) { #expect(abs(Double(a) - b) <= 1e-5) }
    }

    @Test func truncatedFileIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("head.h5")
        try Self.sampleHead().write(to: url)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
        let error = try #require(throws: FeatureStoreError.self) { try HeadFile.read(from: url) }
        guard case .unreadable = error else { Issue.record("expected unreadable, got \(error)"); return }
        #expect(error.description.contains("truncated or corrupt"), "\(error)")
    }

    @Test func foreignFilesAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A JSON head (the old format) is not HDF5.
        let json = dir.appendingPathComponent("head.json")
        try Data(#"{"format": "magfleet-head", "version": 1}"#.utf8).write(to: json)
        #expect(throws: FeatureStoreError.notHDF5(path: json.path)) { try HeadFile.read(from: json) }
        #expect(throws: FeatureStoreError.missingFile(path: dir.appendingPathComponent("none.h5").path)) {
            try HeadFile.read(from: dir.appendingPathComponent("none.h5"))
        }
        // HDF5, but another artefact.
        let other = dir.appendingPathComponent("other.h5")
        try ArrayFile(arrays: ["w": .init(shape: [2], values: [1, 2])], attributes: ["format": .string("something-else")]).write(to: other)
        let error = try #require(throws: EvaluationError.self) { try HeadFile.read(from: other) }
        #expect(error.description.contains("not a magfleet head file") && error.description.contains("something-else"), "\(error)")
        // A head with a newer version, and one with a wrong shape.
        var file = Self.sampleHead().arrayFile
        file.attributes["format_version"] = .integer(2)
        try file.write(to: other)
        #expect(throws: EvaluationError.badFile(path: other.path, reason: "head file format version 2; this magfleet reads version 1")) {
            try HeadFile.read(from: other)
        }
        file = Self.sampleHead().arrayFile
        file.arrays["fc2/bias"] = .init(shape: [3], values: [1, 2, 3])
        try file.write(to: other)
        #expect(throws: EvaluationError.badFile(path: other.path, reason: "not a magfleet head file: `fc2/bias` has shape [3], expected [4]")) {
            try HeadFile.read(from: other)
        }
    }

    @Test func headPredictExplainsABadWeightsFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = dir.appendingPathComponent("head.json")
        try Data("{}".utf8).write(to: json)
        let result = try MagfleetProcess.run(["head", "predict", json.path, "--weights", json.path, "--out", dir.appendingPathComponent("p.tsv").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not an HDF5 file"), "\(result.stderr)")
    }
}
