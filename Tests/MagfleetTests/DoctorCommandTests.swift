import Foundation
import Testing
import TestSupport

/// Runs the real `magfleet` executable, as an operator would.
@Suite struct DoctorCommandTests {
    @Test func doctorReportsEveryLibraryAndPasses() throws {
        let result = try MagfleetProcess.run(["doctor"])
        #expect(result.status == 0, "\(result.stderr)")
        for library in ["OpenBLAS", "libjpeg-turbo", "libpng", "libzmq", "CURVE", "HDF5", "CPU"] {
            #expect(result.stdout.contains(library), "doctor does not report \(library)")
        }
        #expect(result.stdout.contains("available"), "CURVE must be available")
    }

    @Test func doctorJSONIsMachineReadable() throws {
        let result = try MagfleetProcess.run(["doctor", "--json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let checks = try #require(object?["checks"] as? [[String: Any]])
        #expect(checks.count >= 7)
        #expect(checks.allSatisfy { $0["ok"] as? Bool == true })
    }

    @Test func versionAndHelp() throws {
        let version = try MagfleetProcess.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
        let help = try MagfleetProcess.run(["--help"])
        #expect(help.stdout.contains("doctor"))
    }
}
