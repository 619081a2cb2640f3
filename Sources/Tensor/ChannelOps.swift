/// Per-channel elementwise operations over channel-major activations `[C, N·H·W]`: each
/// channel is a contiguous run of `plane` floats. The forward pass fuses affine, PReLU and add
/// into its convolutions (`InputAffine`, `Epilogue`); these plain passes are the references
/// the fused paths are tested against.
public enum ChannelOps {
    /// `x[c, i] = x[c, i] · scale[c] + shift[c]`: an inference BatchNorm applied directly.
    public static func affine(
        _ x: UnsafeMutablePointer<Float>, channels: Int, plane: Int,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
    ) {
        for c in 0..<channels {
            let s = scale[c], b = shift[c]
            let row = x + c * plane
            for i in 0..<plane { row[i] = row[i] * s + b }
        }
    }

    /// PReLU with one slope per channel: `x < 0 ? x · slope[c] : x`.
    public static func prelu(
        _ x: UnsafeMutablePointer<Float>, channels: Int, plane: Int, slope: UnsafePointer<Float>
    ) {
        for c in 0..<channels {
            let a = slope[c]
            let row = x + c * plane
            for i in 0..<plane {
                let v = row[i]
                row[i] = v < 0 ? v * a : v
            }
        }
    }

    /// `x += y` over `count` floats.
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }

    /// Converts NCHW to channel-major `[C, N, H, W]`.
    public static func nchwToCNHW(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int
    ) {
        for b in 0..<n {
            for ch in 0..<c {
                (dst + (ch * n + b) * plane).update(from: src + (b * c + ch) * plane, count: plane)
            }
        }
    }

    /// Converts channel-major `[C, N, H, W]` to NCHW.
    public static func cnhwToNCHW(
        _ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int
    ) {
        for b in 0..<n {
            for ch in 0..<c {
                (dst + (b * c + ch) * plane).update(from: src + (ch * n + b) * plane, count: plane)
            }
        }
    }
}
