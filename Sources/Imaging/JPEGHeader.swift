/// A JPEG marker walk from SOI to the first SOS: the frame size from SOFn and the EXIF
/// orientation from the first APP1 segment (OpenCV parses the first APP1 it saved, whatever its
/// signature, skipping 6 bytes to the TIFF header). Reads nothing past the scan header.
struct JPEGHeader {
    var width: Int
    var height: Int
    var components: Int
    var orientation: Int?

    static func scan(_ b: UnsafeRawBufferPointer) -> JPEGHeader? {
        var i = 2
        var frame: (w: Int, h: Int, c: Int)?
        var orientation: Int?
        var sawAPP1 = false
        let n = b.count
        while i + 1 < n {
            guard b[i] == 0xFF else { return nil }
            var m = i + 1
            while m < n, b[m] == 0xFF { m += 1 }  // fill bytes
            guard m < n else { break }
            let marker = b[m]
            i = m + 1
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { continue }  // no length
            if marker == 0xD9 || marker == 0xDA { break }  // EOI / SOS: the header is over
            guard i + 2 <= n else { break }
            let length = Int(b[i]) << 8 | Int(b[i + 1])
            guard length >= 2, i + length <= n else { break }
            let body = UnsafeRawBufferPointer(rebasing: b[(i + 2)..<(i + length)])
            switch marker {
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                if body.count >= 6, frame == nil {
                    frame = (Int(body[3]) << 8 | Int(body[4]), Int(body[1]) << 8 | Int(body[2]), Int(body[5]))
                }
            case 0xE1 where !sawAPP1:
                sawAPP1 = true
                if body.count > 6 {
                    orientation = ExifOrientation.parse(tiff: UnsafeRawBufferPointer(rebasing: body[6...]))
                }
            default:
                break
            }
            i += length
        }
        guard let frame else { return nil }
        return JPEGHeader(width: frame.w, height: frame.h, components: frame.c, orientation: orientation)
    }
}

/// The EXIF orientation of a PNG, from an eXIf chunk before the first IDAT.
enum PNGExif {
    static func orientation(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = 8
        while i + 8 <= b.count {
            let length = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            let type = (b[i + 4], b[i + 5], b[i + 6], b[i + 7])
            guard length >= 0, i + 8 + length + 4 <= b.count else { return nil }
            if type == (0x49, 0x44, 0x41, 0x54) { return nil }  // IDAT: too late
            if type == (0x65, 0x58, 0x49, 0x66) {  // eXIf
                return ExifOrientation.parse(tiff: UnsafeRawBufferPointer(rebasing: b[(i + 8)..<(i + 8 + length)]))
            }
            i += 12 + length
        }
        return nil
    }
}
