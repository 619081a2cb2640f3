/// Five-point face alignment as insightface's `norm_crop` does it: the similarity transform
/// (rotation, uniform scale, translation) that maps the five landmarks onto the ArcFace
/// template in the least-squares sense (Umeyama 1991, as `skimage.transform.SimilarityTransform`
/// estimates it), then `cv2.warpAffine(img, M, (112, 112), borderValue=0)`.
public enum Alignment {
    /// The standard ArcFace 112x112 template, in order: left eye, right eye, nose tip, left
    /// mouth corner, right mouth corner (x, y in pixels).
    public static let arcfaceTemplate: [(x: Double, y: Double)] = [
        (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041),
    ]

    /// A 2x3 affine matrix `[a b c; d e f]` mapping source (x, y) to `(a x + b y + c, d x + e y + f)`.
    public struct Affine: Sendable, Equatable {
        public var m: [Double]  // row-major, 6 values
        public init(_ m: [Double]) {
            precondition(m.count == 6)
            self.m = m
        }
    }

    /// The least-squares similarity transform taking `source` points to `target` points
    /// (Umeyama with scaling, as skimage's `_umeyama(src, dst, True)`).
    /// - Returns: nil when the source points are degenerate (all equal, non-finite).
    public static func similarity(from source: [(x: Double, y: Double)],
                                  to target: [(x: Double, y: Double)] = arcfaceTemplate) -> Affine? {
        precondition(source.count == target.count && source.count >= 2)
        let n = Double(source.count)
        guard source.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { return nil }
        let smx = source.map(\.x).reduce(0, +) / n, smy = source.map(\.y).reduce(0, +) / n
        let dmx = target.map(\.x).reduce(0, +) / n, dmy = target.map(\.y).reduce(0, +) / n
        // A = dst_demean^T @ src_demean / n  (2x2)
        var a00 = 0.0, a01 = 0.0, a10 = 0.0, a11 = 0.0, srcVar = 0.0
        for (s, d) in zip(source, target) {
            let sx = s.x - smx, sy = s.y - smy, dx = d.x - dmx, dy = d.y - dmy
            a00 += dx * sx; a01 += dx * sy; a10 += dy * sx; a11 += dy * sy
            srcVar += sx * sx + sy * sy
        }
        a00 /= n; a01 /= n; a10 /= n; a11 /= n; srcVar /= n
        guard srcVar > 0 else { return nil }
        // For 2x2 the Umeyama solution has a closed form. The best rotation maximises
        // tr(R^T A) = cos(t) p + sin(t) q with p = a00 + a11, q = a10 - a01, so
        // R = [p -q; q p] / hypot(p, q); and the trace term sum(S * d) of the scale equals
        // hypot(p, q) whether det(A) >= 0 (sigma1 + sigma2) or < 0 (sigma1 - sigma2, the
        // reflection case skimage handles with d = (1, -1)).
        let p = a00 + a11, q = a10 - a01
        let traceSD = (p * p + q * q).squareRoot()
        guard traceSD > 0, traceSD.isFinite else { return nil }
        let cosT = p / traceSD, sinT = q / traceSD
        let scale = traceSD / srcVar
        let a = scale * cosT, b = -scale * sinT, d = scale * sinT, e = scale * cosT
        let c = dmx - (a * smx + b * smy), f = dmy - (d * smx + e * smy)
        return Affine([a, b, c, d, e, f])
    }

    /// Aligns `image` to a 112x112 crop from its five landmarks (image coordinates).
    /// - Returns: nil when the landmarks are degenerate.
    public static func align(_ image: BGRImage, landmarks: [(x: Double, y: Double)], size: Int = 112) -> BGRImage? {
        guard let m = similarity(from: landmarks) else { return nil }
        return WarpAffine.apply(image, m, width: size, height: size)
    }
}
