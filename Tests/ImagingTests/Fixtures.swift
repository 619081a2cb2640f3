import Foundation
import Imaging
import Testing

/// The committed fixtures of Tests/Fixtures/gen_images.py and its manifest.
enum Fixture {
    struct Manifest: Decodable {
        struct Decoded: Decodable { var file: String; var width: Int; var height: Int }
        struct Resized: Decodable { var file: String; var expected: String; var width: Int; var height: Int }
        struct Aligned: Decodable { var `case`: String; var landmarks: [Double]; var matrix: [Double] }
        struct Bad: Decodable { var file: String; var kind: String; var note: String; var opencv: String }
        var opencv: String
        var decode: [Decoded]
        var resize: [Resized]
        var align: [Aligned]
        var bad: [Bad]
    }

    static func url(_ relative: String) throws -> URL {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return base.appendingPathComponent(relative)
    }

    static func path(_ relative: String) throws -> String { try url(relative).path }

    static func data(_ relative: String) throws -> Data { try Data(contentsOf: url(relative)) }

    static let manifest: Manifest = {
        // A missing or unreadable manifest is a broken checkout: fail loudly.
        let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("manifest.json")
        return try! JSONDecoder().decode(Manifest.self, from: Data(contentsOf: url))
    }()

    /// Decodes a fixture PNG that stores an expected image (the PNG path is checked against
    /// cv2.imread in DecodeTests).
    static func png(_ relative: String) throws -> BGRImage {
        try ImageDecoder().decode(contentsOf: path(relative))
    }

    /// Number of differing bytes and the largest difference.
    static func diff(_ a: [UInt8], _ b: [UInt8]) -> (count: Int, max: Int) {
        var count = 0, maxDiff = 0
        for (x, y) in zip(a, b) where x != y {
            count += 1
            maxDiff = max(maxDiff, abs(Int(x) - Int(y)))
        }
        return (count, maxDiff)
    }
}
