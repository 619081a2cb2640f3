import Foundation
import Imaging
import Testing
@testable import Cluster

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
        let fromPath = try loader.load(.path(path + " 7")).get()  // a label after the path
        let fromBytes = try loader.load(.bytes(jpeg, name: path)).get()
        #expect(fromPath.count == Preprocessing.floatsPerImage)
        #expect(fromPath == fromBytes)  // same decoder, same preprocessing: bit-identical
        #expect(fromPath.contains { $0 != 0 })
        guard case let .failure(f) = loader.load(.bytes(Array("not an image".utf8), name: "x.jpg")) else {
            Issue.record("garbage bytes should fail")
            return
        }
        #expect(!f.reason.isEmpty)
        if case .success = loader.load(.path("/nonexistent/face.jpg")) { Issue.record("a missing file should fail") }
    }
}
