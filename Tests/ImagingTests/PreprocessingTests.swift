import Foundation
import Imaging
import Testing

/// The presets against the peers: torchvision ToTensor for magface, numpy for arcface.
@Suite struct PreprocessingTests {
    static func floats(_ relative: String) throws -> [Float] {
        let data = try Fixture.data(relative)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func tensor(_ p: Preprocessing, mirrored: Bool = false) throws -> [Float] {
        let image = try ImageDecoder().decode(contentsOf: Fixture.path("decode/face420.jpg"))
        var out = [Float](repeating: .nan, count: Preprocessing.floatsPerImage)
        out.withUnsafeMutableBufferPointer { p.write(image, into: $0, mirrored: mirrored) }
        return out
    }

    @Test func magfaceIsExactlyGenFeat() throws {
        let expected = try Self.floats("tensor/face420.magface.f32")
        // Tolerance: none; x / 255 in float32 is correctly rounded on both sides.
        #expect(try tensor(Preprocessing(preset: .magface)) == expected)
    }

    @Test func arcfaceIsRGBCentered() throws {
        let expected = try Self.floats("tensor/face420.arcface.f32")
        // Same float32 formula (x - 127.5) / 127.5 as numpy: exact.
        #expect(try tensor(Preprocessing(preset: .arcface)) == expected)
    }

    @Test func mirroredIsColumnReversal() throws {
        let plain = try tensor(Preprocessing(preset: .magface))
        let mirrored = try tensor(Preprocessing(preset: .magface), mirrored: true)
        for c in 0..<3 {
            for y in [0, 57, 111] {
                for x in [0, 13, 111] {
                    #expect(mirrored[c * 12544 + y * 112 + x] == plain[c * 12544 + y * 112 + 111 - x])
                }
            }
        }
    }

    @Test func descriptionIsStable() {
        #expect(Preprocessing(preset: .magface).description == "magface")
        #expect(Preprocessing(preset: .arcface, flip: true).description == "arcface+flip")
    }
}
