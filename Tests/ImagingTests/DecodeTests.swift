import Foundation
import Imaging
import Testing

/// Every decode fixture must come out byte-identical to what cv2.imread(path, IMREAD_COLOR)
/// returned for it (OpenCV 4.14 with its bundled libjpeg-turbo 3.1.2 / libpng 1.6.58; 4.10 and 4.12 give the same bytes).
@Suite struct DecodeTests {
    @Test(arguments: Fixture.manifest.decode.map(\.file))
    func decodesLikeCv2Imread(file: String) throws {
        let entry = try #require(Fixture.manifest.decode.first { $0.file == file })
        let expected = try Fixture.data("decode/\(file).bgr")
        let image = try ImageDecoder().decode(contentsOf: Fixture.path("decode/\(file)"))
        #expect((image.width, image.height) == (entry.width, entry.height))
        // Tolerance: none. Same libjpeg-turbo ISLOW IDCT and fancy upsampling, same libpng.
        let d = Fixture.diff(image.pixels, Array(expected))
        #expect(image.pixels.count == expected.count && d.count == 0,
                "\(file): \(d.count) bytes differ, max \(d.max)")
    }

    @Test func exifOrientationCanBeIgnored() throws {
        let decoder = ImageDecoder(options: .init(applyExifOrientation: false))
        let raw = try decoder.decode(contentsOf: Fixture.path("decode/exif6.jpg"))
        let plain = try ImageDecoder().decode(contentsOf: Fixture.path("decode/exif1.jpg"))
        #expect((raw.width, raw.height) == (37, 23))
        #expect(raw == plain)
    }

    @Test func decodesFromMemoryLikeFromDisk() throws {
        let data = try Fixture.data("decode/face420.jpg")
        let fromMemory = try ImageDecoder().decode(data, path: "face420.jpg")
        let fromDisk = try ImageDecoder().decode(contentsOf: Fixture.path("decode/face420.jpg"))
        #expect(fromMemory == fromDisk)
    }

    @Test func mirroredMatchesIndexReversal() throws {
        let image = try ImageDecoder().decode(contentsOf: Fixture.path("decode/odd420.jpg"))
        let m = image.mirrored()
        for (y, x) in [(0, 0), (5, 3), (22, 36)] {
            for c in 0..<3 {
                #expect(m.pixels[(y * 37 + x) * 3 + c] == image.pixels[(y * 37 + 36 - x) * 3 + c])
            }
        }
    }
}
