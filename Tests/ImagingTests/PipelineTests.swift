import Foundation
import Imaging
import Testing

/// `ImagePipeline.load`, the per-image entry point a worker calls.
@Suite struct PipelineTests {
    func pipeline(_ strict: Bool = false, flip: Bool = false) throws -> ImagePipeline {
        ImagePipeline(options: .init(preprocessing: .init(preset: .magface, flip: flip), strictSize: strict,
                                     root: try Fixture.path("")))
    }

    func entry(_ path: String, landmarks: [Double]? = nil) -> ListEntry {
        ListEntry(index: 0, line: 1, path: path, landmarks: landmarks.map(Landmarks.init))
    }

    @Test func untouchedResizedAlignedAndStrict() throws {
        var out = [Float](repeating: .nan, count: Preprocessing.floatsPerImage)
        try out.withUnsafeMutableBufferPointer { buffer in
            let p = try pipeline()
            #expect(try p.load(entry("decode/face420.jpg"), into: buffer).geometry == .untouched)
            #expect(try p.load(entry("resize/src0_130x150.png"), into: buffer).geometry == .resized)
            let lm = Fixture.manifest.align[0].landmarks
            #expect(try p.load(entry("align/face.png", landmarks: lm), into: buffer).geometry == .aligned)
            let strict = try pipeline(true)
            let error = #expect(throws: ImagingError.self) { try strict.load(entry("resize/src0_130x150.png"), into: buffer) }
            #expect(error?.kind == .wrongSize)
        }
        // The aligned crop was written last: it is cv2.warpAffine's output / 255.
        let expected = try Fixture.png("align/case0.png")
        #expect(out[0] == Float(expected.pixels[0]) / 255)
        let red: UInt8 = expected.pixels[(60 * 112 + 50) * 3 + 2]
        let value: Float = out[2 * 12544 + 60 * 112 + 50]
        #expect(value == Float(red) / 255)
    }

    @Test func flipFusionFillsTheMirrorSlot() throws {
        var batch = [Float](repeating: .nan, count: 2 * Preprocessing.floatsPerImage)
        try batch.withUnsafeMutableBufferPointer { b in
            let n = Preprocessing.floatsPerImage
            _ = try pipeline(flip: true).load(entry("decode/face420.jpg"),
                                              into: UnsafeMutableBufferPointer(rebasing: b[0..<n]),
                                              mirror: UnsafeMutableBufferPointer(rebasing: b[n..<(2 * n)]))
        }
        let n = Preprocessing.floatsPerImage
        #expect(batch[5 * 112 + 7] == batch[n + 5 * 112 + 104])
        #expect(!batch.contains { $0.isNaN })
    }

    @Test func errorsCarryTheResolvedPath() throws {
        var out = [Float](repeating: 0, count: Preprocessing.floatsPerImage)
        let p = try pipeline()
        let expectedPath = try Fixture.path("") + "/nope.jpg"
        _ = out.withUnsafeMutableBufferPointer { buffer in
            #expect(throws: ImagingError.missingFile(path: expectedPath)) { try p.load(entry("nope.jpg"), into: buffer) }
        }
    }
}
