import FeatureStore
import Foundation
import Testing
import Base

/// ArrayFile: named float32 arrays, string lists and scalar attributes in a small HDF5 file.
@Suite struct ArrayFileTests {
    /// Arrays of rank 0 to 3 (one empty), nested names, every attribute kind; random values,
    /// never zero, plus -0.0 and NaN's neighbours that a lossy path would change.
    static func sample() -> ArrayFile {
        var rng = SeededGenerator(seed: 9)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: 0.5...3, using: &rng) * (Bool.random(using: &rng) ? 1 : -1) } }
        var cube = random(2 * 3 * 4)
        cube[0] = -0.0
        cube[1] = Float.leastNonzeroMagnitude
        cube[2] = -Float.greatestFiniteMagnitude
        return ArrayFile(
            arrays: [
                "scale": .init(shape: [], values: [1.5]),
                "a/b/cube": .init(shape: [2, 3, 4], values: cube),
                "a/vector": .init(shape: [7], values: random(7)),
                "empty": .init(shape: [0, 5], values: []),
            ],
            strings: ["names": ["x", "Zoë", "", "李"], "a/none": []],
            attributes: ["kind": .string("test-artefact ✓"), "n": .integer(-3), "big": .integer(Int64.max), "p": .real(0.1)])
    }

    @Test func roundTripIsExact() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.h5")
        let file = Self.sample()
        try file.write(to: url)
        let back = try ArrayFile.read(from: url)
        #expect(back == file)
        let cube = try #require(back.arrays["a/b/cube"])
        #expect(cube.values.map(\.bitPattern) == file.arrays["a/b/cube"]!.values.map(\.bitPattern))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.h5"], "no temporary file left")
    }

    @Test func badNamesAreRefusedAndLeaveNoFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.h5")
        for name in ["", "/abs", "a//b", "a/../b", "tail/"] {
            #expect(throws: FeatureStoreError.self, "\(name)") { try ArrayFile(arrays: [name: .init(shape: [1], values: [1])]).write(to: url) }
        }
        #expect(throws: FeatureStoreError.self) {
            try ArrayFile(arrays: ["x": .init(shape: [1], values: [1])], strings: ["x": ["a"]]).write(to: url)
        }
        // A dataset under a name that is already a dataset: HDF5's own error, no file left.
        let error = try #require(throws: FeatureStoreError.self) {
            try ArrayFile(arrays: ["x": .init(shape: [1], values: [1]), "x/y": .init(shape: [1], values: [2])]).write(to: url)
        }
        guard case .hdf5 = error else { Issue.record("expected an HDF5 error, got \(error)"); return }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.h5")
        try Self.sample().write(to: url)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count / 2).write(to: url)
        let error = try #require(throws: FeatureStoreError.self) { try ArrayFile.read(from: url) }
        guard case .unreadable = error else { Issue.record("expected unreadable, got \(error)"); return }
        let text = dir.appendingPathComponent("t.json")
        try Data("{}".utf8).write(to: text)
        #expect(throws: FeatureStoreError.notHDF5(path: text.path)) { try ArrayFile.read(from: text) }
    }

    /// A feature store is HDF5 too, but holds integer datasets: refused by name, not misread.
    @Test func integerDatasetsAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("s.h5")
        try writeStore(randomRows(5, dim: 4, seed: 1), dim: 4, to: url)
        let error = try #require(throws: FeatureStoreError.self) { try ArrayFile.read(from: url) }
        guard case .datasetType(_, let name, _) = error else { Issue.record("expected datasetType, got \(error)"); return }
        #expect(["labels", "status"].contains(name), "\(error)")
    }

    /// What h5py writes (float64 and float32 arrays, groups, str attributes and lists) reads back.
    @Test(.enabled(if: peerPython != nil, "no python with h5py+numpy: set MAGFLEET_PEER_PYTHON (CI installs h5py)"))
    func readsWhatH5pyWrites() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("py.h5")
        let script = """
            import sys, h5py, numpy as np
            with h5py.File(sys.argv[1], "w") as f:
                f["fc/weight"] = np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.1) + np.float32(1)
                f["fc/bias"] = np.array([0.1, -2.5], dtype=np.float64)
                f.create_dataset("names", data=["a", "Zoë"], dtype=h5py.string_dtype())
                f.attrs["format"] = "py"; f.attrs["n"] = 7; f.attrs["p"] = 0.25
            """
        let result = try runPython(peerPython!, script: script, arguments: [url.path])
        try #require(result.status == 0, "\(result.output)")
        let file = try ArrayFile.read(from: url)
        let weight = (0..<6).map { Float($0) * Float(0.1) + 1 }  // float32 arithmetic, as numpy's
        #expect(file.arrays["fc/weight"] == .init(shape: [2, 3], values: weight))
        #expect(file.arrays["fc/bias"] == .init(shape: [2], values: [Float(0.1), -2.5]))  // float64 -> float32 by HDF5
        #expect(file.strings["names"] == ["a", "Zoë"])
        #expect(file.attributes == ["format": .string("py"), "n": .integer(7), "p": .real(0.25)])
    }
}
