/// Bilinear resizing that reproduces `cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)`
/// on 8-bit 3-channel images with OpenCV 4.x's fixed-point arithmetic (resize.cpp):
///
/// - source coordinate `f = float((d + 0.5) * (src / dst) - 0.5)`, `s = floor(f)`, weights
///   `round((1 - frac) * 2048)` and `round(frac * 2048)` (11 fractional bits);
/// - horizontal pass in Int32, clamping at the left/right edge to the edge pixel;
/// - vertical pass with the row index clamped to the image; OpenCV runs it with SIMD for the
///   first multiple-of-16 outputs of a row (`((a >> 4) * b0 >> 16) + ((c >> 4) * b1 >> 16)`
///   then `(+2) >> 2`) and in plain C for the rest (`(a * b0 + c * b1 + 2^21) >> 22`); both
///   are reproduced, element by element, so the result is pixel-exact (checked against
///   OpenCV 4.14 in ImagingTests).
public enum Resize {
    /// Returns `image` resized to `width x height`.
    public static func bilinear(_ image: BGRImage, width: Int, height: Int) -> BGRImage {
        precondition(width > 0 && height > 0 && image.width > 0 && image.height > 0, "resize of an empty image")
        if width == image.width && height == image.height { return image }
        let cn = 3
        let sw = image.width, sh = image.height
        let scaleX = Double(sw) / Double(width), scaleY = Double(sh) / Double(height)

        // Horizontal table: source offset (in elements) and two weights per output element.
        var xofs = [Int](repeating: 0, count: width)
        var alpha0 = [Int32](repeating: 0, count: width), alpha1 = [Int32](repeating: 0, count: width)
        for dx in 0..<width {
            var fx = Float((Double(dx) + 0.5) * scaleX - 0.5)
            var sx = Int(fx.rounded(.down))
            fx -= Float(sx)
            if sx < 0 { fx = 0; sx = 0 }
            if sx >= sw - 1 { fx = 0; sx = sw - 1 }
            xofs[dx] = sx * cn
            alpha0[dx] = saturateShort((1 - fx) * 2048)
            alpha1[dx] = saturateShort(fx * 2048)
        }
        var yofs = [Int](repeating: 0, count: height)
        var beta0 = [Int32](repeating: 0, count: height), beta1 = [Int32](repeating: 0, count: height)
        for dy in 0..<height {
            var fy = Float((Double(dy) + 0.5) * scaleY - 0.5)
            let sy = Int(fy.rounded(.down))
            fy -= Float(sy)
            yofs[dy] = sy
            beta0[dy] = saturateShort((1 - fy) * 2048)
            beta1[dy] = saturateShort(fy * 2048)
        }

        let rowLength = width * cn
        let simdEnd = rowLength / 16 * 16
        var out = [UInt8](repeating: 0, count: height * rowLength)
        var row0 = [Int32](repeating: 0, count: rowLength), row1 = [Int32](repeating: 0, count: rowLength)
        var cached0 = -1, cached1 = -1
        image.pixels.withUnsafeBufferPointer { src in
            func horizontal(_ sy: Int, into row: inout [Int32]) {
                let base = sy * sw * cn
                row.withUnsafeMutableBufferPointer { d in
                    for dx in 0..<width {
                        let s = base + xofs[dx], a0 = alpha0[dx], a1 = alpha1[dx]
                        let last = xofs[dx] + cn >= sw * cn  // clamped at the right edge
                        for k in 0..<cn {
                            let p0 = Int32(src[s + k])
                            let p1 = last ? 0 : Int32(src[s + k + cn])
                            d[dx * cn + k] = last ? p0 * 2048 : p0 * a0 + p1 * a1
                        }
                    }
                }
            }
            for dy in 0..<height {
                let s0 = min(max(yofs[dy], 0), sh - 1), s1 = min(max(yofs[dy] + 1, 0), sh - 1)
                if s0 != cached0 {
                    if s0 == cached1 { swap(&row0, &row1); swap(&cached0, &cached1) } else {
                        horizontal(s0, into: &row0); cached0 = s0
                    }
                }
                if s1 != cached1 { horizontal(s1, into: &row1); cached1 = s1 }
                let b0 = beta0[dy], b1 = beta1[dy]
                let o = dy * rowLength
                for x in 0..<rowLength {
                    let v: Int32
                    if x < simdEnd {
                        let p = mulHi(pack16(row0[x] >> 4), b0) + mulHi(pack16(row1[x] >> 4), b1)
                        v = (p + 2) >> 2
                    } else {
                        v = (row0[x] &* b0 &+ row1[x] &* b1 &+ (1 << 21)) >> 22
                    }
                    out[o + x] = UInt8(clamping: v)
                }
            }
        }
        return BGRImage(width: width, height: height, pixels: out)
    }

    /// `saturate_cast<short>(float)`: round half to even, then clamp.
    static func saturateShort(_ v: Float) -> Int32 {
        Int32(max(-32768, min(32767, v.rounded(.toNearestOrEven))))
    }

    /// `_mm_packs_epi32` on one lane: saturate Int32 to Int16.
    @inline(__always) static func pack16(_ v: Int32) -> Int32 { max(-32768, min(32767, v)) }

    /// `_mm_mulhi_epi16` on one lane: high 16 bits of the signed 32-bit product.
    @inline(__always) static func mulHi(_ a: Int32, _ b: Int32) -> Int32 {
        Int32(Int16(truncatingIfNeeded: (a * b) >> 16))
    }
}
