/// How a 112x112 BGR crop becomes the network's input, and whether the mirror image is fed too.
/// Recorded with every stored feature set (`description` is the stable string to store).
public struct Preprocessing: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The normalisation of each channel value `x` in 0...255.
    public enum Preset: String, Sendable, CaseIterable, Codable {
        /// MagFace's inference/gen_feat.py: `cv2.imread` (BGR, channels NOT swapped), then
        /// `transforms.ToTensor()` (HWC -> CHW, `x / 255` in float32) and
        /// `Normalize(mean=[0,0,0], std=[1,1,1])` (the identity). Bit-identical to PyTorch.
        case magface
        /// insightface / arcface_torch: RGB, `(x - 127.5) / 127.5`.
        case arcface
    }

    public var preset: Preset
    /// Flip fusion: also produce the mirrored image (cv2.flip(img, 1)); the caller sums the
    /// two embeddings. Off by default (gen_feat.py computes the flip but only uses input[0]).
    public var flip: Bool

    public init(preset: Preset = .magface, flip: Bool = false) {
        self.preset = preset
        self.flip = flip
    }

    public var description: String { flip ? "\(preset.rawValue)+flip" : preset.rawValue }

    /// Side of the square input crop.
    public static let size = 112
    /// Floats in one CHW input: 3 * 112 * 112.
    public static let floatsPerImage = 3 * size * size

    /// The 256 possible channel values after normalisation, computed as the peer computes
    /// them (float32 division), so a lookup is exact.
    var table: [Float] {
        switch preset {
        case .magface: (0..<256).map { Float($0) / 255 }
        case .arcface: (0..<256).map { (Float($0) - 127.5) / 127.5 }
        }
    }

    /// Writes `image` (112x112 BGR) as CHW float32 `[3, 112, 112]` into `out`, the caller's
    /// slot in a batch NCHW tensor, optionally mirrored left to right.
    /// - Parameters:
    ///   - image: exactly 112x112 (precondition).
    ///   - out: at least `floatsPerImage` floats; channel c, row y, column x at `c*12544 + y*112 + x`.
    ///   - mirrored: write `cv2.flip(image, 1)` instead.
    public func write(_ image: BGRImage, into out: UnsafeMutableBufferPointer<Float>, mirrored: Bool = false) {
        write(image, into: out, mirrored: mirrored, table: table)
    }

    func write(_ image: BGRImage, into out: UnsafeMutableBufferPointer<Float>, mirrored: Bool, table: [Float]) {
        let n = Self.size
        precondition(image.width == n && image.height == n, "preprocess expects 112x112, got \(image.width)x\(image.height)")
        precondition(out.count >= Self.floatsPerImage, "output slot holds \(out.count) floats, needs \(Self.floatsPerImage)")
        let plane = n * n
        // Output channel c reads BGR channel order[c].
        let order = preset == .magface ? (0, 1, 2) : (2, 1, 0)
        table.withUnsafeBufferPointer { lut in
            image.pixels.withUnsafeBufferPointer { src in
                let dst = out.baseAddress!
                for y in 0..<n {
                    let row = y * n * 3
                    for x in 0..<n {
                        let s = row + (mirrored ? n - 1 - x : x) * 3
                        let o = y * n + x
                        dst[o] = lut[Int(src[s + order.0])]
                        dst[plane + o] = lut[Int(src[s + order.1])]
                        dst[2 * plane + o] = lut[Int(src[s + order.2])]
                    }
                }
            }
        }
    }
}
