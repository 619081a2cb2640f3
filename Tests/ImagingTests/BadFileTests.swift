import Foundation
import Imaging
import Testing
import TestSupport

/// Each broken file of the corpus gives its typed error, carrying the path; none crashes.
@Suite struct BadFileTests {
    @Test(arguments: Fixture.manifest.bad.map(\.file))
    func badFileGivesItsTypedError(file: String) throws {
        let entry = try #require(Fixture.manifest.bad.first { $0.file == file })
        let path = try Fixture.path("bad/\(file)")
        let error = #expect(throws: ImagingError.self) { try ImageDecoder().decode(contentsOf: path) }
        #expect(error?.kind.rawValue == entry.kind, "\(file) (\(entry.note)): \(String(describing: error))")
        #expect(error?.path == path)
    }

    @Test func missingFile() throws {
        let path = try Fixture.path("bad/does-not-exist.jpg")
        #expect(throws: ImagingError.missingFile(path: path)) { try ImageDecoder().decode(contentsOf: path) }
        let underFile = try Fixture.path("bad/empty.jpg") + "/x.jpg"  // ENOTDIR
        #expect(throws: ImagingError.missingFile(path: underFile)) { try ImageDecoder().decode(contentsOf: underFile) }
    }

    @Test func directoryIsUnreadable() throws {
        let path = try Fixture.path("bad")
        let error = #expect(throws: ImagingError.self) { try ImageDecoder().decode(contentsOf: path) }
        #expect(error?.kind == .unreadable)
    }

    /// root reads any file, so the check only means something for other users.
    @Test(.enabled(if: geteuid() != 0, "running as root: permissions are not enforced"))
    func permissionDenied() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-noperm-\(UUID().uuidString).jpg").path
        try Fixture.data("decode/face420.jpg").write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        chmod(path, 0)
        #expect(throws: ImagingError.permissionDenied(path: path)) { try ImageDecoder().decode(contentsOf: path) }
    }

    /// As root (CI runs so), the real binary checks the list as `nobody` (setpriv), for whom a
    /// mode-000 file is unreadable: the line is reported as permission-denied, nothing crashes.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv to drop privileges"))
    func permissionDeniedAsAnotherUser() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magfleet-noperm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        chmod(dir.path, 0o755)
        for name in ["ok.jpg", "locked.jpg"] {
            let path = dir.appendingPathComponent(name).path
            try Fixture.data("decode/face420.jpg").write(to: URL(fileURLWithPath: path))
            chmod(path, name == "locked.jpg" ? 0 : 0o644)
        }
        let list = dir.appendingPathComponent("list.txt").path
        try "ok.jpg\nlocked.jpg\n".write(toFile: list, atomically: true, encoding: .utf8)
        chmod(list, 0o644)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--",
                             MagfleetProcess.executable.path, "images", "check", "--list", list, "--root", dir.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "\(text)")  // 1: the list has a bad image
        #expect(text.contains("list.txt:2:"), "\(text)")
        #expect(text.lowercased().contains("permission"), "\(text)")
        #expect(text.contains("1 ok, 1 failed"), "\(text)")
    }

    @Test func truncatedJPEGDecodesWhenWarningsAreAllowed() throws {
        // OpenCV returns the damaged image (grey below the cut); lenient mode does the same.
        let lenient = ImageDecoder(options: .init(jpegWarningsAreErrors: false))
        let image = try lenient.decode(contentsOf: Fixture.path("bad/truncated.jpg"))
        #expect((image.width, image.height) == (112, 112))
        let strictError = #expect(throws: ImagingError.self) { try ImageDecoder().decode(contentsOf: Fixture.path("bad/truncated.jpg")) }
        #expect(strictError?.reason.contains("Premature end") == true)
    }

    @Test func bombLimitIsConfigurable() throws {
        let path = try Fixture.path("decode/face420.jpg")
        let tight = ImageDecoder(options: .init(maxPixels: 112 * 112 - 1))
        #expect(throws: ImagingError.tooLarge(path: path, width: 112, height: 112, maxPixels: 112 * 112 - 1)) {
            try tight.decode(contentsOf: path)
        }
        #expect(try ImageDecoder(options: .init(maxPixels: 112 * 112)).decode(contentsOf: path).width == 112)
        let size = try Fixture.data("decode/face420.jpg").count
        let small = ImageDecoder(options: .init(maxFileBytes: size - 1))
        #expect(throws: ImagingError.fileTooLarge(path: path, bytes: size, maxBytes: size - 1)) {
            try small.decode(contentsOf: path)
        }
    }
}

/// Deterministic mutations of good files (truncations, flipped bytes, overwritten runs):
/// every one either decodes or throws an `ImagingError`; the process never dies.
@Suite struct MutationTests {
    @Test(arguments: ["decode/face420.jpg", "decode/progressive.jpg", "decode/exif6.jpg", "decode/rgb.png",
                      "decode/palette.png", "decode/cmyk.jpg"])
    func mutatedFilesNeverCrash(file: String) throws {
        let original = try [UInt8](Fixture.data(file))
        var state: UInt64 = 0x5DEE_CE66_D1CE_4E5D
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(state >> 33) % bound
        }
        var decoded = 0, failed = 0
        for trial in 0..<150 {
            var bytes = original
            switch trial % 3 {
            case 0: bytes.removeLast(1 + next(bytes.count - 1))
            case 1: for _ in 0..<(1 + next(8)) { bytes[next(bytes.count)] ^= UInt8(1 + next(255)) }
            default:
                let at = next(bytes.count), run = min(1 + next(64), bytes.count - at)
                for k in at..<(at + run) { bytes[k] = UInt8(next(256)) }
            }
            do {
                let image = try ImageDecoder().decode(Data(bytes), path: "\(file)#\(trial)")
                #expect(image.pixels.count == image.width * image.height * 3)
                decoded += 1
            } catch {
                #expect(!error.reason.isEmpty)
                failed += 1
            }
        }
        #expect(decoded + failed == 150)
        #expect(failed > 0, "mutations of \(file) should break at least one decode")
    }
}
