import Foundation
import Base

/// Face-like synthetic images for the built-in demo and for tests that need many distinct
/// faces: each identity is a distinct base drawing (skin tone, face shape, eyes, brows, nose,
/// mouth, hair, background) and every image of it adds jitter (shift, scale, lighting, noise).
/// Distractors are each a fresh random identity. Nothing here is a real face: reports made
/// from these images say so.
public struct SyntheticFaces: Sendable {
    /// The drawing parameters of one identity.
    public struct Identity: Sendable {
        var skin: (Double, Double, Double)
        var hair: (Double, Double, Double)
        var background: (Double, Double, Double)
        var background2: (Double, Double, Double)
        var faceWidth: Double, faceHeight: Double
        var eyeSpacing: Double, eyeHeight: Double, eyeSize: Double
        var browTilt: Double
        var noseLength: Double
        var mouthWidth: Double, mouthHeight: Double, smile: Double
        var hairline: Double
        var iris: (Double, Double, Double)
    }

    /// The side of every image, in pixels (the aligned MagFace input size).
    public static let side = 112

    public let seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// The identity with this number; the same number always draws the same person.
    public func identity(_ number: Int) -> Identity {
        var rng = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: number) &* 0x9E37_79B9_7F4A_7C15))
        func u(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * rng.unit() }
        let tone = u(0.25, 1)
        return Identity(
            skin: (u(60, 140) * tone + 40, u(90, 170) * tone + 40, u(120, 200) * tone + 50),
            hair: (u(10, 120), u(10, 110), u(10, 130)),
            background: (u(20, 235), u(20, 235), u(20, 235)),
            background2: (u(20, 235), u(20, 235), u(20, 235)),
            faceWidth: u(30, 42), faceHeight: u(42, 54),
            eyeSpacing: u(14, 22), eyeHeight: u(44, 54), eyeSize: u(3.5, 6.5),
            browTilt: u(-0.35, 0.35),
            noseLength: u(10, 20),
            mouthWidth: u(10, 22), mouthHeight: u(2, 6), smile: u(-4, 6),
            hairline: u(18, 34),
            iris: (u(20, 160), u(20, 140), u(10, 120)))
    }

    /// Draws image `variant` of `identity` as interleaved BGR bytes (side*side*3). Variant 0 is
    /// the identity's base pose; other variants jitter it.
    public func render(_ identity: Identity, variant: Int) -> [UInt8] {
        var rng = SeededGenerator(seed: seed &+ UInt64(truncatingIfNeeded: variant) &* 0xBF58_476D_1CE4_E5B9
            ^ UInt64(truncatingIfNeeded: Int(identity.faceWidth * 1000)))
        func u(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * rng.unit() }
        let jitter = variant == 0 ? 0.0 : 1.0
        let dx = u(-3, 3) * jitter, dy = u(-3, 3) * jitter
        let scale = 1 + u(-0.05, 0.05) * jitter
        let light = u(-22, 22) * jitter
        let tilt = u(-0.06, 0.06) * jitter
        let noise = 4 + 4 * jitter
        let n = Self.side
        var pixels = [UInt8](repeating: 0, count: n * n * 3)
        let cx = 56.0 + dx, cy = 58.0 + dy
        let cosT = cos(tilt), sinT = sin(tilt)
        let id = identity
        for y in 0..<n {
            for x in 0..<n {
                // Face-centred coordinates, rotated and scaled by the jitter.
                let rx = Double(x) - cx, ry = Double(y) - cy
                let fx = (rx * cosT + ry * sinT) / scale, fy = (-rx * sinT + ry * cosT) / scale
                let t = Double(y) / Double(n)
                var c = mix(id.background, id.background2, t)
                let face = ellipse(fx, fy, 0, 0, id.faceWidth, id.faceHeight)
                let hair = ellipse(fx, fy, 0, -10, id.faceWidth + 5, id.faceHeight + 4)
                    * step(-id.faceHeight + id.hairline - fy)
                c = mix(c, id.hair, hair)
                c = mix(c, id.skin, face * (1 - step(-id.faceHeight + id.hairline - fy)))
                let ey = id.eyeHeight - 58
                for side in [-1.0, 1.0] {
                    let ex = side * id.eyeSpacing
                    let white = ellipse(fx, fy, ex, ey, id.eyeSize * 1.7, id.eyeSize)
                    c = mix(c, (235, 235, 235), white)
                    c = mix(c, id.iris, ellipse(fx, fy, ex, ey, id.eyeSize * 0.8, id.eyeSize * 0.8))
                    c = mix(c, (20, 20, 20), ellipse(fx, fy, ex, ey, id.eyeSize * 0.35, id.eyeSize * 0.35))
                    let browY = ey - id.eyeSize - 4 + side * id.browTilt * (fx - ex)
                    let brow = step(id.eyeSize * 1.8 - abs(fx - ex)) * step(1.6 - abs(fy - browY))
                    c = mix(c, id.hair, brow * 0.9)
                }
                let nose = step(1.8 - abs(fx)) * step(fy - (ey + 2)) * step(ey + 2 + id.noseLength - fy)
                c = mix(c, scaleColor(id.skin, 0.78), nose)
                let my = ey + id.noseLength + 9
                let curve = id.smile * (fx / max(id.mouthWidth, 1)) * (fx / max(id.mouthWidth, 1))
                let mouth = ellipse(fx, fy + curve, 0, my, id.mouthWidth, id.mouthHeight)
                c = mix(c, (60, 50, 150), mouth)
                let base = (y * n + x) * 3
                let shade = light + (rng.unit() - 0.5) * 2 * noise
                pixels[base] = clampByte(c.0 + shade)
                pixels[base + 1] = clampByte(c.1 + shade)
                pixels[base + 2] = clampByte(c.2 + shade)
            }
        }
        return pixels
    }

    private func ellipse(_ x: Double, _ y: Double, _ cx: Double, _ cy: Double, _ a: Double, _ b: Double) -> Double {
        let d = ((x - cx) * (x - cx)) / (a * a) + ((y - cy) * (y - cy)) / (b * b)
        // A one-pixel soft edge keeps the drawing antialiased.
        return min(max((1 - d) * min(a, b) / 2 + 0.5, 0), 1)
    }

    private func step(_ v: Double) -> Double { min(max(v + 0.5, 0), 1) }

    private func mix(_ a: (Double, Double, Double), _ b: (Double, Double, Double), _ t: Double) -> (Double, Double, Double) {
        (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t)
    }

    private func scaleColor(_ a: (Double, Double, Double), _ s: Double) -> (Double, Double, Double) {
        (a.0 * s, a.1 * s, a.2 * s)
    }

    private func clampByte(_ v: Double) -> UInt8 { UInt8(min(max(v.rounded(), 0), 255)) }
}
