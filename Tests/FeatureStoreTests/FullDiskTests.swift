@testable import FeatureStore
import Foundation
import Testing
import TestSupport

/// Issue 16, item 3: writers on a full file system (a small tmpfs the test mounts). A write
/// that does not fit fails with `.noSpace` naming the final file, leaves nothing there, and
/// leaves HDF5 holding no file (so its atexit handler has nothing to close: the process-level
/// check, exit 1 and not SIGSEGV, is in ClusterIntegrationTests/StoreIntegrityTests).
@Suite(.enabled(if: ScratchMount.isAvailable, "needs root to mount a tmpfs"))
struct FullDiskTests {
    @Test func aStoreThatDoesNotFitFailsNamingItAndLeavesNothing() throws {
        let disk = try ScratchMount(size: "256k")
        defer { disk.unmount() }
        let url = URL(fileURLWithPath: disk.path + "/store.h5")
        let rows = randomRows(2000, dim: 64, seed: 30)  // 512 KB of embeddings
        #expect(throws: FeatureStoreError.noSpace(path: url.path)) { try writeStore(rows, dim: 64, to: url) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == [])
        #expect(!HDF5.openFileNames().contains { $0.hasPrefix(disk.path) })

        try disk.resize("8m")  // room now: the same write succeeds
        try writeStore(rows, dim: 64, to: url)
        let store = try FeatureStoreReader(url: url)
        #expect(try store.embeddings(rows: 0..<2000) == rows.embeddings)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == ["store.h5"])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        #expect(size < 2 << 20, "the space reserved for the flush is given back (\(size) bytes)")
    }

    @Test func anArrayFileThatDoesNotFitFailsNamingIt() throws {
        let disk = try ScratchMount(size: "128k")
        defer { disk.unmount() }
        let url = URL(fileURLWithPath: disk.path + "/head.h5")
        let file = ArrayFile(arrays: ["fc1/weight": .init(shape: [256, 256], values: (0..<65536).map { Float($0) })],
                             attributes: ["format": .string("test")])
        #expect(throws: FeatureStoreError.noSpace(path: url.path)) { try file.write(to: url) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path) == [])
        #expect(!HDF5.openFileNames().contains { $0.hasPrefix(disk.path) })
        try disk.resize("2m")
        try file.write(to: url)
        #expect(try ArrayFile.read(from: url) == file)
    }
}
