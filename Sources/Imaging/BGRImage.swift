/// An 8-bit, 3-channel image in OpenCV's layout: rows top to bottom, pixels interleaved B, G, R
/// (HWC, `pixels.count == height * width * 3`), exactly what `cv2.imread(path)` returns.
public struct BGRImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes, row-major, B G R per pixel.
    public var pixels: [UInt8]

    /// Wraps `pixels`; precondition: `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "BGRImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image of the given size.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }

    /// The image mirrored left to right (`cv2.flip(img, 1)`).
    public func mirrored() -> BGRImage {
        var out = self
        out.pixels.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for y in 0..<height {
                    let row = y * width * 3
                    for x in 0..<width {
                        let s = row + x * 3, d = row + (width - 1 - x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return out
    }
}
