import Foundation
import Imaging
import Testing

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
    }
}
