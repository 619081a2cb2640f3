@testable import FeatureStore
import Foundation
import Testing

/// Temporary files that killed writers leave (issue 16, item 6): which are removed on the next start.
@Suite struct PartialFileTests {
    /// A pid no process has now: one that ran and exited.
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test func stalePartialsOfAnOutputAreRemovedAndALiveWritersKept() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("store.h5")
        let dead = try Self.deadPID(), live = getppid()  // the test runner's parent is running
        let names = [".store.h5.partial-\(dead)-0A1B2C3D", ".store.h5.partial-\(getpid())-DEADBEEF",
                     ".store.h5.partial-\(live)-12345678", ".other.h5.partial-\(dead)-0A1B2C3D", "store.h5", "notes.partial-1-2"]
        for name in names { try Data("x".utf8).write(to: dir.appendingPathComponent(name)) }
        #expect(PartialFile.temporary(for: out).lastPathComponent.hasPrefix(".store.h5.partial-\(getpid())-"))
        #expect(PartialFile.writer(of: PartialFile.temporary(for: out).lastPathComponent, for: "store.h5") == getpid())

        let (removed, kept) = PartialFile.removeStale(for: out)
        #expect(removed == [names[0], names[1]].map { dir.appendingPathComponent($0).path }.sorted())
        #expect(kept == [dir.appendingPathComponent(names[2]).path])
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(left == [names[3], names[2], "notes.partial-1-2", "store.h5"].sorted())

        // A directory one writer owns (the run's shards, under the run lock): all of them go.
        #expect(PartialFile.removeAll(in: dir) == [names[3], names[2]].map { dir.appendingPathComponent($0).path }.sorted())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["notes.partial-1-2", "store.h5"])
    }
}
