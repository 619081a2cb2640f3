import FeatureStore
import Foundation

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

/// Deterministic pseudo-random numbers (SplitMix64), so that failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
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

/// The python with h5py and numpy that checks our files: $MAGFLEET_PEER_PYTHON, else python3,
/// else the fixture venv; nil when none imports h5py.
let peerPython: String? = {
    var candidates = ["python3", "/opt/fxvenv/bin/python"]
    if let configured = ProcessInfo.processInfo.environment["MAGFLEET_PEER_PYTHON"] { candidates.insert(configured, at: 0) }
    for candidate in candidates {
        if let result = try? runPython(candidate, script: "import h5py, numpy", arguments: []), result.status == 0 {
            return candidate
        }
    }
    return nil
}()

/// Runs `script` with `python`, returning its status and stdout (stderr appended on failure).
func runPython(_ python: String, script: String, arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python, "-c", script] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    return (process.terminationStatus, process.terminationStatus == 0 ? text : text + String(decoding: errors, as: UTF8.self))
}
