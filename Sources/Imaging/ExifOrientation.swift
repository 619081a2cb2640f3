/// EXIF orientation, applied the way `cv2.imread(path, IMREAD_COLOR)` applies it (OpenCV's
/// ExifReader + ApplyExifOrientation): the orientation tag (0x0112) of IFD0 in the first APP1
/// segment of a JPEG; values 1...8 as in the EXIF standard; anything unreadable or out of range
/// means "leave the pixels as decoded", never an error.
enum ExifOrientation {
    /// Parses a TIFF structure (the APP1 payload after its 6-byte "Exif\0\0" header) for the
    /// orientation tag. Returns nil when absent or malformed.
    static func parse(tiff: UnsafeRawBufferPointer) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true   // "II"
        case (0x4D, 0x4D): little = false  // "MM"
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            let a = Int(tiff[at]), b = Int(tiff[at + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ at: Int) -> Int? {
            guard let lo = u16(little ? at : at + 2), let hi = u16(little ? at + 2 : at) else { return nil }
            return hi << 16 | lo
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for i in 0..<count {
            let entry = ifd + 2 + i * 12
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112 {
                guard let value = u16(entry + 8), (1...8).contains(value) else { return nil }
                return value
            }
        }
        return nil
    }

    /// Applies orientation `value` (1...8) to `image` as OpenCV does: 2 flip horizontally,
    /// 3 rotate 180, 4 flip vertically, 5 transpose, 6 transpose + flip horizontally (rotate 90
    /// clockwise), 7 transpose + rotate 180, 8 transpose + flip vertically.
    static func apply(_ value: Int, to image: BGRImage) -> BGRImage {
        guard (2...8).contains(value) else { return image }
        let w = image.width, h = image.height
        let transposed = value >= 5
        let ow = transposed ? h : w, oh = transposed ? w : h
        // After the optional transpose, flips: horizontal for 2, 3, 6, 7; vertical for 3, 4, 7, 8.
        let flipX = [2, 3, 6, 7].contains(value)
        let flipY = [3, 4, 7, 8].contains(value)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let ty = flipY ? oh - 1 - oy : oy
                        let tx = flipX ? ow - 1 - ox : ox
                        let (sx, sy) = transposed ? (ty, tx) : (tx, ty)
                        let s = (sy * w + sx) * 3, d = (oy * ow + ox) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return BGRImage(width: ow, height: oh, pixels: out)
    }
}
