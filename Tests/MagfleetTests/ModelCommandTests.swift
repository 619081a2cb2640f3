import Foundation
import Testing
import TestSupport

/// `magfleet model random` then `model inspect`, through the real binary.
@Suite struct ModelCommandTests {
    @Test func randomCheckpointInspectsAsRandom() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-model-\(UUID().uuidString).pth")
        defer { try? FileManager.default.removeItem(at: url) }
        let made = try MagfleetProcess.run(["model", "random", "--arch", "iresnet18", "--seed", "5", "--out", url.path], timeout: 300)
        #expect(made.status == 0, "\(made.stderr)")
        let inspected = try MagfleetProcess.run(["model", "inspect", url.path], timeout: 300)
        #expect(inspected.status == 0, "\(inspected.stderr)")
        #expect(inspected.stdout.contains("architecture:  iresnet18"))
        #expect(inspected.stdout.contains("parameters:    24025600"))
        #expect(inspected.stdout.contains("RANDOM WEIGHTS"))
        // The fingerprint printed on writing is the one read back.
        let printed = try #require(made.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(printed.count == 64)
        #expect(inspected.stdout.contains("fingerprint:   \(printed)"))

        let wrong = try MagfleetProcess.run(["model", "inspect", url.path, "--arch", "iresnet100"], timeout: 300)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("checkpoint holds iresnet18 but iresnet100 was requested"))
    }

    @Test func inspectRejectsNonCheckpoint() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-notes-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("not a model\n".utf8).write(to: url)
        let result = try MagfleetProcess.run(["model", "inspect", url.path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not a PyTorch checkpoint"))
    }
}
