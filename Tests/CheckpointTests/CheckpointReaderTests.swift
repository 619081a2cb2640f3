import Foundation
import Testing
@testable import Checkpoint

func fixture(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
}

func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-ckpt-\(UUID().uuidString)-\(name)")
    try Data(bytes).write(to: url)
    return url
}

/// Expects `body` to throw exactly `expected`.
func expectError(_ expected: CheckpointError, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected \(expected), nothing thrown")
    } catch let error as CheckpointError {
        #expect(error == expected)
        #expect(!error.description.isEmpty)
    } catch {
        Issue.record("expected \(expected), got \(error)")
    }
}

@Suite struct CheckpointReaderTests {
    @Test(arguments: ["small.pth", "small_legacy.pth"])
    func readsBareStateDict(_ name: String) throws {
        let ckpt = try Checkpoint(contentsOf: try fixture(name))
        #expect(ckpt.format == (name.contains("legacy") ? .legacy : .zip))
        #expect(ckpt.keys == ["w", "b"])
        let w = try #require(ckpt.tensors["w"])
        #expect(w.shape == [3, 4] && w.dtype == .float32)
        // Exact: stored float32 values are copied, not computed.
        #expect(try ckpt.floats(w) == (0..<12).map(Float.init))
        #expect(try ckpt.floats(ckpt.tensors["b"]!) == [1.5, -2.0])
    }

    @Test func honoursStrides() throws {
        let ckpt = try Checkpoint(contentsOf: try fixture("strided.pth"))
        let t = try #require(ckpt.tensors["t"])
        #expect(t.shape == [3, 4] && t.strides == [1, 3])
        // torch.arange(12).reshape(4, 3).t(): row r is r, r+3, r+6, r+9. Exact.
        #expect(try ckpt.floats(t) == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
    }

    @Test func refusesUnknownGlobal() throws {
        let url = try fixture("unknown_global.pth")
        expectError(.unknownGlobal(path: url.path, name: "argparse.Namespace")) { _ = try Checkpoint(contentsOf: url) }
    }

    @Test func refusesCompressedEntry() throws {
        let url = try fixture("compressed.pth")
        do {
            _ = try Checkpoint(contentsOf: url)
            Issue.record("compressed archive accepted")
        } catch let CheckpointError.compressedEntry(path, _, method) {
            #expect(path == url.path && method == 8)
        }
    }

    @Test(arguments: ["small.pth", "small_legacy.pth"])
    func reportsTruncation(_ name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: try fixture(name)))
        // Cut at several points; every one must say "truncated", never crash or succeed.
        for cut in [bytes.count - 1, bytes.count - 30, bytes.count / 2, 40] {
            let url = try temporaryFile(name, Array(bytes[0..<cut]))
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                let ckpt = try Checkpoint(contentsOf: url)
                for t in ckpt.tensors.values { _ = try ckpt.floats(t) }
                Issue.record("\(name) cut at \(cut) of \(bytes.count) was accepted")
            } catch let error as CheckpointError {
                guard case .truncated = error else { Issue.record("cut at \(cut): \(error)"); continue }
            }
        }
    }

    @Test func rejectsNonCheckpoints() throws {
        let text = try temporaryFile("notes.txt", Array("hello, not a model\n".utf8))
        let empty = try temporaryFile("empty.pth", [])
        defer { try? FileManager.default.removeItem(at: text); try? FileManager.default.removeItem(at: empty) }
        expectError(.notACheckpoint(path: text.path, reason: "it starts with neither a zip header nor a pickle")) {
            _ = try Checkpoint(contentsOf: text)
        }
        expectError(.notACheckpoint(path: empty.path, reason: "the file is empty")) { _ = try Checkpoint(contentsOf: empty) }
        let missing = URL(fileURLWithPath: "/nonexistent/magface.pth")
        #expect(throws: CheckpointError.self) { _ = try Checkpoint(contentsOf: missing) }
    }

    @Test func refusesHandCraftedGlobalAndOpcode() throws {
        // A zip whose pickle calls os.system: the unpickler must stop at the GLOBAL.
        func archive(_ pickle: [UInt8]) throws -> URL {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-evil-\(UUID().uuidString).pth")
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            let handle = try FileHandle(forWritingTo: url)
            var zip = ZipWriter(handle: handle)
            try zip.add("archive/data.pkl", pickle)
            try zip.finish()
            try handle.close()
            return url
        }
        let evil = try archive([0x80, 0x02] + Array("cos\nsystem\n".utf8) + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52, 0x2E])
        defer { try? FileManager.default.removeItem(at: evil) }
        expectError(.unknownGlobal(path: evil.path, name: "os.system")) { _ = try Checkpoint(contentsOf: evil) }
        // INST (0x69) builds an object from a class name: not on the opcode whitelist.
        let inst = try archive([0x80, 0x02, 0x28, 0x69] + Array("os\nsystem\n".utf8) + [0x2E])
        defer { try? FileManager.default.removeItem(at: inst) }
        expectError(.badPickle(path: inst.path, reason: "opcode 0x69 at byte 3 is not on the whitelist")) {
            _ = try Checkpoint(contentsOf: inst)
        }
    }

    @Test func writerRoundTrips() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-rt-\(UUID().uuidString).pth")
        defer { try? FileManager.default.removeItem(at: url) }
        let a = CheckpointWriter.Entry(key: "a.weight", shape: [2, 3], values: [1, -2, 3.5, 4, 5, -6.25])
        let b = CheckpointWriter.Entry(key: "b", shape: [1], values: [0.125])
        try CheckpointWriter.write([a, b], metadata: [("random_weights", .bool(true)), ("seed", .int(7)), ("arch", .string("x"))], to: url)
        let ckpt = try Checkpoint(contentsOf: url)
        #expect(ckpt.keys == ["a.weight", "b"])
        #expect(try ckpt.floats(ckpt.tensors["a.weight"]!) == a.values)
        #expect(try ckpt.floats(ckpt.tensors["b"]!) == b.values)
        #expect(ckpt.metadata["magfleet.random_weights"] == "true")
        #expect(ckpt.metadata["magfleet.seed"] == "7")
        #expect(ckpt.metadata["magfleet.arch"] == "x")
        // PyTorch expects 64-byte aligned tensor data.
        let raw = [UInt8](try Data(contentsOf: url))
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(raw.count > 64)
    }
}

/// Hand-built archives for the errors PyTorch itself never writes.
@Suite struct CheckpointTensorErrorTests {
    /// `{"x": tensor}` over a storage of `numel` elements of `storageType` holding `data`.
    func archive(storageType: String, numel: Int, shape: [Int], strides: [Int], data: [UInt8]) throws -> URL {
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        func str(_ s: String) { p.append(0x58); withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian) { p += $0 }; p += Array(s.utf8) }
        func int(_ v: Int) { p.append(0x4A); withUnsafeBytes(of: Int32(v).littleEndian) { p += $0 } }
        str("x")
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x28]
        str("storage"); p += Array("ctorch\n\(storageType)\n".utf8); str("0"); str("cpu"); int(numel)
        p += [0x74, 0x51]
        int(0)
        p.append(0x28); shape.forEach(int); p.append(0x74)
        p.append(0x28); strides.forEach(int); p.append(0x74)
        p += [0x89, 0x7D, 0x74, 0x52, 0x75, 0x2E]  // False, {}, TUPLE, REDUCE, SETITEMS, STOP
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-tensor-\(UUID().uuidString).pth")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        var zip = ZipWriter(handle: handle)
        try zip.add("archive/data.pkl", p)
        try zip.add("archive/data/0", data)
        try zip.finish()
        try handle.close()
        return url
    }

    @Test func viewPastItsStorageIsRefused() throws {
        let url = try archive(storageType: "FloatStorage", numel: 2, shape: [3], strides: [1], data: [UInt8](repeating: 0x3F, count: 8))
        defer { try? FileManager.default.removeItem(at: url) }
        let ckpt = try Checkpoint(contentsOf: url)
        let x = try #require(ckpt.tensors["x"])
        expectError(.tensorOutOfBounds(path: url.path, tensor: "x")) { _ = try ckpt.floats(x, name: "x") }
        // Strides that overflow Int are refused the same way, not trapped on.
        var huge = x
        huge.shape = [2, 2]
        huge.strides = [Int.max / 2, 1]
        expectError(.tensorOutOfBounds(path: url.path, tensor: "x")) { _ = try ckpt.floats(huge, name: "x") }
    }

    @Test func integerTensorIsNamedUnsupported() throws {
        let url = try archive(storageType: "LongStorage", numel: 2, shape: [2], strides: [1], data: [UInt8](repeating: 1, count: 16))
        defer { try? FileManager.default.removeItem(at: url) }
        let ckpt = try Checkpoint(contentsOf: url)
        let x = try #require(ckpt.tensors["x"])
        #expect(x.dtype == .int64)
        expectError(.unsupportedDType(path: url.path, tensor: "x", dtype: "int64")) { _ = try ckpt.floats(x, name: "x") }
    }

    @Test func missingStorageEntryIsNamed() throws {
        let url = try archive(storageType: "FloatStorage", numel: 2, shape: [2], strides: [1], data: [0, 0, 128, 63, 0, 0, 0, 64])
        defer { try? FileManager.default.removeItem(at: url) }
        let ckpt = try Checkpoint(contentsOf: url)
        // 1.0 and 2.0, little-endian float32. Exact.
        #expect(try ckpt.floats(ckpt.tensors["x"]!) == [1, 2])
        var other = ckpt.tensors["x"]!
        other.storageKey = "7"
        expectError(.missingStorage(path: url.path, key: "7")) { _ = try ckpt.floats(other) }
    }
}
