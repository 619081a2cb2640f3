import FeatureStore
import Foundation
import TestSupport
import Base

/// A fresh temporary directory per test, removed by the caller with `defer`.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-store-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func fixture(_ name: String) throws -> URL {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw FeatureStoreError.missingFile(path: "Fixtures/\(name)")
    }
    return url
}

func provenance(dim: Int, fingerprint: String = "sha256:feedface", labels: [String] = ["alice", "bob", "Zoë"]) -> StoreProvenance {
    StoreProvenance(
        modelFingerprint: fingerprint, architecture: "iresnet100", embeddingDim: dim,
        preprocessingPreset: "magface-112", flip: true, imageListSHA256: String(repeating: "ab", count: 32),
        toolVersion: "0.1.0-test", createdAt: "2026-11-29T02:00:00Z", randomWeights: false, labelNames: labels)
}

/// `n` rows of random embeddings (never zero), every 5th failed, labels cycling -1...2,
/// non-ASCII paths.
func randomRows(_ n: Int, dim: Int, seed: UInt64, indices: [Int64] = []) -> StoreRows {
    var rng = SeededGenerator(seed: seed)
    var rows = StoreRows()
    for i in 0..<n {
        let failed = i % 5 == 3
        for _ in 0..<dim { rows.embeddings.append(failed ? 0 : Float.random(in: -2...2, using: &rng)) }
        rows.paths.append("faces/ü-\(seed)/img \(i).jpg")
        rows.labels.append(Int64(i % 4) - 1)
        rows.statuses.append(failed ? .failed(reason: "decode: truncated JPEG (\(i))") : .ok)
    }
    rows.indices = indices
    return rows
}

/// Writes a whole store of `rows`.
func writeStore(_ rows: StoreRows, dim: Int, to url: URL, options: StoreWriteOptions = .init()) throws {
    let writer = try FeatureStoreWriter(url: url, provenance: provenance(dim: dim), options: options)
    try writer.append(rows)
    try writer.finish()
}

/// The python with h5py and numpy that checks our files (TestSupport.PeerPython).
let peerPython: String? = PeerPython.path

/// Runs `script` with `python` (TestSupport.PeerPython.run).
func runPython(_ python: String, script: String, arguments: [String]) throws -> (status: Int32, output: String) {
    try PeerPython.run(python, script: script, arguments: arguments)
}
