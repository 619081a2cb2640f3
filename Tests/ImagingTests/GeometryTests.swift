import Foundation
import Imaging
import Testing

/// Resize and alignment against cv2.resize / cv2.warpAffine (OpenCV 4.14; 4.10 and 4.12 agree) on the fixtures.
@Suite struct GeometryTests {
    @Test(arguments: Fixture.manifest.resize.map(\.file))
    func resizeMatchesCv2(file: String) throws {
        let entry = try #require(Fixture.manifest.resize.first { $0.file == file })
        let src = try Fixture.png("resize/\(file)")
        #expect((src.width, src.height) == (entry.width, entry.height))
        let expected = try Fixture.png("resize/\(entry.expected)")
        let out = Resize.bilinear(src, width: 112, height: 112)
        // Tolerance: none (OpenCV's fixed-point arithmetic is reproduced step by step).
        let d = Fixture.diff(out.pixels, expected.pixels)
        #expect(d.count == 0, "\(file): \(d.count) of \(out.pixels.count) bytes differ, max \(d.max)")
    }

    @Test(arguments: Fixture.manifest.align.map(\.case))
    func similarityMatchesSkimageUmeyama(name: String) throws {
        let entry = try #require(Fixture.manifest.align.first { $0.case == name })
        let points = (0..<5).map { (x: entry.landmarks[2 * $0], y: entry.landmarks[2 * $0 + 1]) }
        let m = try #require(Alignment.similarity(from: points))
        // Closed form vs numpy SVD, both in double: agree to ~1e-12; 1e-9 leaves room.
        for (a, b) in zip(m.m, entry.matrix) {
            #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "\(name): \(m.m) vs \(entry.matrix)")
        }
    }

    @Test(arguments: Fixture.manifest.align.map(\.case))
    func warpMatchesCv2WarpAffine(name: String) throws {
        let entry = try #require(Fixture.manifest.align.first { $0.case == name })
        let src = try Fixture.png("align/face.png")
        let expected = try Fixture.png("align/\(name).png")
        // With OpenCV's own matrix: exact.
        let out = WarpAffine.apply(src, Alignment.Affine(entry.matrix), width: 112, height: 112)
        let d = Fixture.diff(out.pixels, expected.pixels)
        #expect(d.count == 0, "\(name): \(d.count) bytes differ, max \(d.max)")
        // With our own matrix (1e-12 away): a pixel whose fixed-point coordinate sits exactly on
        // a rounding boundary could move by 1/32 pixel; none does on these fixtures.
        let points = (0..<5).map { (x: entry.landmarks[2 * $0], y: entry.landmarks[2 * $0 + 1]) }
        let aligned = try #require(Alignment.align(src, landmarks: points))
        let d2 = Fixture.diff(aligned.pixels, expected.pixels)
        #expect(d2.count == 0, "\(name) (own matrix): \(d2.count) bytes differ, max \(d2.max)")
    }

    @Test func degenerateLandmarksAreRejected() {
        let same = Array(repeating: (x: 10.0, y: 10.0), count: 5)
        #expect(Alignment.similarity(from: same) == nil)
        let nan = [(x: Double.nan, y: 1.0)] + Array(repeating: (x: 1.0, y: 2.0), count: 4)
        #expect(Alignment.similarity(from: nan) == nil)
    }

    @Test func templateMapsOntoItself() throws {
        let m = try #require(Alignment.similarity(from: Alignment.arcfaceTemplate))
        // Identity up to rounding of the sums: 1e-12.
        for (a, b) in zip(m.m, [1.0, 0, 0, 0, 1, 0]) { #expect(abs(a - b) < 1e-12) }
    }
}
