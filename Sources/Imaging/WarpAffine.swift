/// `cv2.warpAffine(src, M, (width, height))` with INTER_LINEAR and BORDER_CONSTANT 0 on 8-bit
/// 3-channel images, reproducing OpenCV 4.x's fixed-point path (imgwarp.cpp) bit for bit:
///
/// - M is inverted in double precision (OpenCV's formula) to map destination to source;
/// - per destination pixel, `X = (round((M1 y + M2) * 1024) + 16 + round(M0 x * 1024)) >> 5`
///   (likewise Y), giving an integer source pixel `X >> 5` and a 1/32 sub-pixel phase;
/// - bilinear weights from the 32x32 table in 15-bit fixed point, `(sum + 2^14) >> 15`;
/// - neighbours outside the image read as 0; pixels whose whole 2x2 footprint is outside are 0.
///
/// Note: OpenCV 5.0 replaced this path with a floating-point one; its output differs by up to
/// a few levels (docs/imaging.md).
public enum WarpAffine {
    public static func apply(_ src: BGRImage, _ forward: Alignment.Affine, width: Int, height: Int) -> BGRImage {
        var m = forward.m
        // Invert (OpenCV warpAffine without WARP_INVERSE_MAP).
        var det = m[0] * m[4] - m[1] * m[3]
        det = det != 0 ? 1 / det : 0
        let a11 = m[4] * det, a22 = m[0] * det
        m[0] = a11; m[1] *= -det
        m[3] *= -det; m[4] = a22
        let b1 = -m[0] * m[2] - m[1] * m[5]
        let b2 = -m[3] * m[2] - m[4] * m[5]
        m[2] = b1; m[5] = b2

        let sw = src.width, sh = src.height, cn = 3
        var adelta = [Int](repeating: 0, count: width), bdelta = [Int](repeating: 0, count: width)
        for x in 0..<width {
            adelta[x] = saturateInt(m[0] * Double(x) * 1024)
            bdelta[x] = saturateInt(m[3] * Double(x) * 1024)
        }
        var out = [UInt8](repeating: 0, count: width * height * cn)
        src.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { d in
                for y in 0..<height {
                    let x0 = saturateInt((m[1] * Double(y) + m[2]) * 1024) + 16
                    let y0 = saturateInt((m[4] * Double(y) + m[5]) * 1024) + 16
                    for x in 0..<width {
                        let X = (x0 + adelta[x]) >> 5, Y = (y0 + bdelta[x]) >> 5
                        let sx = Int(Int16(clamping: X >> 5)), sy = Int(Int16(clamping: Y >> 5))
                        let fx = Int32(X & 31), fy = Int32(Y & 31)
                        var w00 = (32 - fy) * (32 - fx) * 32
                        let w01 = (32 - fy) * fx * 32, w10 = fy * (32 - fx) * 32, w11 = fy * fx * 32
                        if w00 == 32768 { w00 = 32767 }  // saturate_cast<short>; exact anyway for 8-bit
                        let o = (y * width + x) * cn
                        if sx >= 0, sy >= 0, sx < sw - 1, sy < sh - 1 {
                            let p = (sy * sw + sx) * cn, q = p + sw * cn
                            for k in 0..<cn {
                                let v = Int32(s[p + k]) * w00 + Int32(s[p + cn + k]) * w01
                                    + Int32(s[q + k]) * w10 + Int32(s[q + cn + k]) * w11
                                d[o + k] = UInt8(clamping: (v + (1 << 14)) >> 15)
                            }
                        } else if sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0 {
                            // whole footprint outside: border value 0 (already zero)
                        } else {
                            let inX0 = sx >= 0 && sx < sw, inX1 = sx + 1 >= 0 && sx + 1 < sw
                            let inY0 = sy >= 0 && sy < sh, inY1 = sy + 1 >= 0 && sy + 1 < sh
                            for k in 0..<cn {
                                func at(_ xx: Int, _ yy: Int, _ ok: Bool) -> Int32 { ok ? Int32(s[(yy * sw + xx) * cn + k]) : 0 }
                                let v = at(sx, sy, inX0 && inY0) * w00 + at(sx + 1, sy, inX1 && inY0) * w01
                                    + at(sx, sy + 1, inX0 && inY1) * w10 + at(sx + 1, sy + 1, inX1 && inY1) * w11
                                d[o + k] = UInt8(clamping: (v + (1 << 14)) >> 15)
                            }
                        }
                    }
                }
            }
        }
        return BGRImage(width: width, height: height, pixels: out)
    }

    /// `saturate_cast<int>(double)`: round half to even, clamp to Int32.
    static func saturateInt(_ v: Double) -> Int {
        let r = v.rounded(.toNearestOrEven)
        return Int(max(Double(Int32.min), min(Double(Int32.max), r)))
    }
}
