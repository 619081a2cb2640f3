import FeatureStore
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A running `magfleet serve` on loopback port 0: started, waited for until it prints the
/// address it listens on, stopped with SIGTERM.
final class ServeProcess {
    let process = Process()
    let base: String
    private let output = Locked("")
    private let outPipe = Pipe()

    /// Starts `magfleet serve store arguments... --bind 127.0.0.1:0` and waits (at most 60 s)
    /// for its listening line.
    init(store: String, _ arguments: [String] = []) throws {
        process.executableURL = MagfleetProcess.executable
        process.arguments = ["serve", store, "--bind", "127.0.0.1:0"] + arguments
        process.standardOutput = outPipe
        process.standardError = outPipe
        try process.run()
        let seen = DispatchSemaphore(value: 0)
        let output = self.output
        outPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil; seen.signal(); return }
            output.set(output.get() + String(decoding: data, as: UTF8.self))
            if output.get().contains("/\n") { seen.signal() }
        }
        let deadline = Date().addingTimeInterval(60)
        var address: String?
        while address == nil, Date() < deadline {
            _ = seen.wait(timeout: .now() + 1)
            if let match = output.get().firstMatch(of: /at (http:\/\/127\.0\.0\.1:\d+)\//) { address = String(match.1) }
            if !process.isRunning { break }
        }
        guard let address else {
            process.terminate()
            throw ServeFailure(message: "serve did not start: \(output.get())")
        }
        base = address
    }

    var text: String { output.get() }

    /// SIGTERM, then waits (at most 30 s) for the exit; returns the status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

struct ServeFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// One HTTP exchange through curl (installed everywhere the tests run).
struct HTTPReply {
    var status: Int
    var body: Data
    var contentType: String
    var json: Any? { try? JSONSerialization.jsonObject(with: body) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
}

enum HTTP {
    static func request(_ url: String, method: String = "GET", body: Data? = nil, headers: [String] = []) throws -> HTTPReply {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments = ["-s", "-m", "60", "-X", method, "-o", dir.appendingPathComponent("body").path, "-w", "%{http_code} %{content_type}"]
        for h in headers { arguments += ["-H", h] }
        if let body {
            let file = dir.appendingPathComponent("request")
            try body.write(to: file)
            arguments += ["-H", "Content-Type: application/json", "--data-binary", "@\(file.path)"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments + [url]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let parts = text.split(separator: " ", maxSplits: 1)
        let data = (try? Data(contentsOf: dir.appendingPathComponent("body"))) ?? Data()
        return HTTPReply(status: Int(parts.first ?? "0") ?? 0, body: data, contentType: parts.count > 1 ? String(parts[1]) : "")
    }

    static func post(_ url: String, _ object: Any, headers: [String] = []) throws -> HTTPReply {
        try request(url, method: "POST", body: try JSONSerialization.data(withJSONObject: object), headers: headers)
    }
}

/// A small store for the serve tests: 60 rows of dim 8 in 5 identities, rows 7, 19 and 33
/// failed (two categories), one of them with an image file under `images/`.
func makeServeStore() throws -> (dir: URL, store: String, rows: StoreRows) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-serve-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir.appendingPathComponent("images/person_1"), withIntermediateDirectories: true)
    var rows = StoreRows()
    for i in 0..<60 {
        let failed = [7, 19, 33].contains(i)
        rows.embeddings += (0..<8).map { j in failed ? 0 : Float(sin(Double(i * 13 + j * 5 + 1))) * Float(1 + i % 7) }
        rows.paths.append("person_\(i % 5)/img_\(i).jpg")
        rows.labels.append(i % 10 == 9 ? -1 : Int64(i % 5))
        rows.statuses.append(failed ? .failed(reason: i == 33 ? "detect: no face" : "decode: truncated JPEG") : .ok)
    }
    let provenance = StoreProvenance(
        modelFingerprint: "sha256:serve-test", architecture: "iresnet100", embeddingDim: 8, preprocessingPreset: "magface-112",
        flip: false, imageListSHA256: String(repeating: "cd", count: 32), toolVersion: "test", createdAt: "2026-12-01T00:00:00Z",
        randomWeights: true, labelNames: ["ann", "bo", "cy", "dee", "Zoë"])
    let store = dir.appendingPathComponent("s.h5").path
    let writer = try FeatureStoreWriter(url: URL(fileURLWithPath: store), provenance: provenance, options: .init(chunkRows: 16))
    try writer.append(rows)
    try writer.finish()
    // A 1x1 PNG for row 1's thumbnail.
    let png = Data(base64Encoded: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")!
    try png.write(to: dir.appendingPathComponent("images/person_1/img_1.jpg"))
    return (dir, store, rows)
}
