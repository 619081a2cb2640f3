import Foundation
import Imaging
import Testing
@testable import Cluster
import ClusterCore
@testable import magfleet

/// The Imaging adapter behind the ImageLoader seam: files, shipped bytes, per-image errors.
struct ImagingLoaderTests {
    @Test func loadsAJPEGFromAPathAndFromShippedBytesIdentically() throws {
        let faces = SyntheticFaces(seed: 3)
        let pixels = faces.render(faces.identity(1), variant: 0)
        let jpeg = try JPEGEncoder.encode(BGRImage(width: 112, height: 112, pixels: pixels))
        let path = NSTemporaryDirectory() + "magfleet-loader-\(UUID().uuidString).jpg"
        try Data(jpeg).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let loader = ImagingLoader()
        let fromPath = try loader.load(ImageInput(path: path)).get()
        let fromBytes = try loader.load(ImageInput(path: path, bytes: jpeg)).get()
        #expect(fromPath.count == Preprocessing.floatsPerImage)
        #expect(fromPath == fromBytes)  // same decoder, same preprocessing: bit-identical
        #expect(fromPath.contains { $0 != 0 })
        guard case let .failure(f) = loader.load(ImageInput(path: "x.jpg", bytes: Array("not an image".utf8))) else {
            Issue.record("garbage bytes should fail")
            return
        }
        #expect(!f.reason.isEmpty && f.category == "unsupported-format")
        guard case let .failure(missing) = loader.load(ImageInput(path: "/nonexistent/face.jpg")) else {
            Issue.record("a missing file should fail")
            return
        }
        #expect(missing.category == "missing-file")
    }
}
