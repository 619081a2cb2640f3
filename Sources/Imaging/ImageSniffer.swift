/// Tells JPEG and PNG apart from everything else by their first bytes (never by extension).
enum ImageSniffer {
    enum Kind: Equatable {
        case jpeg
        case png
        /// Not decodable; the reason names the format when it is a known one.
        case other(String)
    }

    static func sniff(_ b: UnsafeRawBufferPointer) -> Kind {
        func starts(_ sig: [UInt8]) -> Bool {
            b.count >= sig.count && sig.indices.allSatisfy { b[$0] == sig[$0] }
        }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        let known: [([UInt8], String)] = [
            (Array("GIF8".utf8), "GIF"), (Array("BM".utf8), "BMP"), ([0x49, 0x49, 0x2A, 0x00], "TIFF"),
            ([0x4D, 0x4D, 0x00, 0x2A], "TIFF"), ([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50], "JPEG 2000"),
            ([0xFF, 0x4F, 0xFF, 0x51], "JPEG 2000"), (Array("P5".utf8), "PGM"), (Array("P6".utf8), "PPM"),
        ]
        for (sig, name) in known where starts(sig) {
            return .other("\(name) is not supported (magfleet decodes JPEG and PNG only)")
        }
        if starts(Array("RIFF".utf8)), b.count >= 12, b[8] == 0x57, b[9] == 0x45, b[10] == 0x42, b[11] == 0x50 {
            return .other("WebP is not supported (magfleet decodes JPEG and PNG only)")
        }
        if b.count >= 12, b[4] == 0x66, b[5] == 0x74, b[6] == 0x79, b[7] == 0x70 {
            return .other("HEIF/AVIF is not supported (magfleet decodes JPEG and PNG only)")
        }
        if starts([0xFF, 0xD8]) { return .other("not an image: JPEG start marker without a following marker") }
        return .other("not an image: unrecognised signature \(b.prefix(4).map { String($0, radix: 16) }.joined(separator: " "))")
    }
}
