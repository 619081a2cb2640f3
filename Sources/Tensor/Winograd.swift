/// 3x3 convolutions with Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, "Fast
/// Algorithms for Convolutional Neural Networks", 2016), over `[C, N, H, W]` activations.
///
/// Each 4x4 output tile comes from a 6x6 input tile `d` as `Aᵀ [Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B)] A`:
/// 36 multiplies per tile and channel pair instead of 144. Laid out as in ncnn and NNPACK, the
/// sum over input channels becomes 36 independent GEMMs, one per position ξ of the 6x6
/// transformed tile: `M_ξ [Cout, tiles] = U_ξ [Cout, Cin] × V_ξ [Cin, tiles]`.
///
/// A convolution runs as three passes, each split over `Parallel.threadCount` parts: the input
/// transform (by input channel; an `InputAffine` is applied as tiles are read, so padding stays
/// zero), the 36 GEMMs (by ξ, each part calling single-threaded OpenBLAS), and the output
/// transform (by output channel) with the bias and the `Epilogue` fused in. Tiles are taken in
/// blocks so that the transformed data stays bounded whatever the batch.
///
/// Numerics: the points are 0, ±1, ±2 and ∞; the weight transform runs in Double. Against the
/// float64 reference convolution the error is a few float32 ulps of the output's scale
/// (Tests/TensorTests/WinogradTests.swift states the bound).
public enum Winograd {
    /// Output tile side (m in F(m x m, 3x3)).
    public static let outputTile = 4
    /// Input tile side, m + 3 − 1.
    public static let inputTile = 6
    /// Transformed positions per tile (6 x 6): the number of GEMMs per convolution.
    public static let positions = 36
    /// Tiles transformed together in one vectorised pass (bounds the per-part scratch to
    /// 2 · 36 · 64 floats, 18 KiB).
    static let chunk = 64

    /// Whether F(4x4, 3x3) computes `g`: a 3x3 kernel, stride 1, padding 1.
    public static func supports(_ g: ConvGeometry) -> Bool {
        g.kernel == 3 && g.stride == 1 && g.padding == 1
    }

    /// Multiply-adds of the 36 GEMMs for `g`, the part of the work that is not a transform.
    public static func multiplyAdds(_ g: ConvGeometry) -> Double {
        let tiles = g.batch * ((g.height + 3) / 4) * ((g.width + 3) / 4)
        return Double(positions * tiles) * Double(g.inChannels * g.outChannels)
    }

    /// The transformed data of one convolution's tiles, kept between layers and grown as
    /// needed.
    public struct Workspace {
        var transformed: [Float] = []
        var products: [Float] = []
        public init() {}
    }

    /// Convolves `input` with 3x3 weights already transformed (`WinogradWeights`), stride 1,
    /// padding 1.
    ///
    /// - Parameters:
    ///   - g: the geometry; `supports(g)` must hold.
    ///   - input: `[Cin, N, H, W]`.
    ///   - weights: the transformed weights, `Cin` and `Cout` as in `g`.
    ///   - bias: `Cout` values or nil.
    ///   - output: `[Cout, N, H, W]`, overwritten.
    ///   - workspace: transformed tiles; grown as needed and reused across calls.
    ///   - maxWorkspace: the most floats each of the two transformed buffers may hold (tiles are
    ///     processed in blocks that fit).
    ///   - inputAffine: a per-input-channel `x · scale + shift` applied as tiles are read (an
    ///     inference BatchNorm before the conv; padding stays zero).
    ///   - epilogue: what follows the bias, in the output transform's pass.
    public static func convolve(
        _ g: ConvGeometry, input: UnsafePointer<Float>, weights: WinogradWeights,
        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>,
        workspace: inout Workspace, maxWorkspace: Int = 1 << 23,
        inputAffine: InputAffine? = nil, epilogue: Epilogue = .none
    ) {
        precondition(supports(g), "Winograd F(4x4,3x3) needs a 3x3 stride-1 padding-1 convolution, got \(g)")
        precondition(weights.inChannels == g.inChannels && weights.outChannels == g.outChannels,
                     "weights are \(weights.outChannels)x\(weights.inChannels), the conv is \(g)")
        let tiling = Tiling(g)
        let widest = max(g.inChannels, g.outChannels)
        let block = max(min(tiling.count, maxWorkspace / (positions * widest)), min(tiling.count, chunk))
        if workspace.transformed.count < positions * g.inChannels * block {
            workspace.transformed = [Float](repeating: 0, count: positions * g.inChannels * block)
        }
        if workspace.products.count < positions * g.outChannels * block {
            workspace.products = [Float](repeating: 0, count: positions * g.outChannels * block)
        }
        BLAS.withSingleThreadedKernels {
        weights.values.withUnsafeBufferPointer { u in
            workspace.transformed.withUnsafeMutableBufferPointer { v in
                workspace.products.withUnsafeMutableBufferPointer { m in
                    nonisolated(unsafe) let u = u.baseAddress!, v = v.baseAddress!, m = m.baseAddress!
                    var first = 0
                    while first < tiling.count {
                        let tiles = first..<min(first + block, tiling.count)
                        Parallel.forEachPart(g.inChannels) { channels in
                            transformInput(tiling, input: input, tiles: tiles, channels: channels, into: v,
                                           affine: inputAffine)
                        }
                        let cin = g.inChannels, cout = g.outChannels, n = tiles.count
                        Parallel.forEachPart(positions) { xis in
                            for xi in xis {
                                BLAS.sgemm(m: cout, n: n, k: cin, a: u + xi * cout * cin, lda: cin,
                                           b: v + xi * cin * n, ldb: n, c: m + xi * cout * n, ldc: n)
                            }
                        }
                        Parallel.forEachPart(g.outChannels) { channels in
                            transformOutput(tiling, products: m, tiles: tiles, channels: channels, output: output,
                                            bias: bias, epilogue: epilogue)
                        }
                        first = tiles.upperBound
                    }
                }
            }
        }
        }
    }

    /// Where each 4x4 output tile lies: tiles are numbered image by image, row by row.
    struct Tiling {
        let g: ConvGeometry
        let rows: Int, columns: Int
        var perImage: Int { rows * columns }
        var count: Int { g.batch * perImage }

        init(_ g: ConvGeometry) {
            self.g = g
            rows = (g.height + 3) / 4
            columns = (g.width + 3) / 4
        }

        /// The tile's image, and the top-left of its output tile.
        @inline(__always)
        func origin(_ t: Int) -> (n: Int, y: Int, x: Int) {
            let n = t / perImage, r = t % perImage
            return (n, (r / columns) * 4, (r % columns) * 4)
        }
    }

    /// `V[ξ, ci, t] = (Bᵀ d B)_ξ` for the tiles `tiles` of the input channels `channels`, written
    /// with leading dimension `tiles.count` (`v` holds `[36, Cin, tiles.count]`).
    static func transformInput(
        _ tiling: Tiling, input: UnsafePointer<Float>, tiles: Range<Int>, channels: Range<Int>,
        into v: UnsafeMutablePointer<Float>, affine: InputAffine?
    ) {
        let g = tiling.g, h = g.height, w = g.width, plane = g.batch * h * w
        let ld = tiles.count, cin = g.inChannels
        let d = UnsafeMutablePointer<Float>.allocate(capacity: 2 * positions * chunk)
        defer { d.deallocate() }
        let e = d + positions * chunk
        for ci in channels {
            let src = input + ci * plane
            let scale = affine?.scale[ci] ?? 1, shift = affine?.shift[ci] ?? 0
            var first = tiles.lowerBound
            while first < tiles.upperBound {
                let count = min(chunk, tiles.upperBound - first)
                // Gather each tile's 6x6 input (rows y−1…y+4, columns x−1…x+4) as 36 rows over
                // the chunk's tiles: d[(r·6 + c)·chunk + k]. Outside the image is padding: 0.
                for k in 0..<count {
                    let (n, y0, x0) = tiling.origin(first + k)
                    let image = src + n * h * w
                    let interior = y0 >= 1 && y0 + 5 <= h && x0 >= 1 && x0 + 5 <= w
                    for r in 0..<6 {
                        let y = y0 - 1 + r
                        let dst = d + r * 6 * chunk + k
                        if interior {
                            let row = image + y * w + x0 - 1
                            for c in 0..<6 { dst[c * chunk] = row[c] * scale + shift }
                        } else if y < 0 || y >= h {
                            for c in 0..<6 { dst[c * chunk] = 0 }
                        } else {
                            let row = image + y * w
                            for c in 0..<6 {
                                let x = x0 - 1 + c
                                dst[c * chunk] = x >= 0 && x < w ? row[x] * scale + shift : 0
                            }
                        }
                    }
                }
                // Bᵀ d: down each of the 6 columns; then (Bᵀ d) B: along each of the 6 rows,
                // straight into V.
                for c in 0..<6 {
                    inputRows(d + c * chunk, stride: 6 * chunk, into: e + c * chunk, outStride: 6 * chunk, count: count)
                }
                let out = v + ci * ld + (first - tiles.lowerBound)
                for r in 0..<6 {
                    inputRows(e + r * 6 * chunk, stride: chunk, into: out + r * 6 * cin * ld, outStride: cin * ld,
                              count: count)
                }
                first += count
            }
        }
    }

    /// `out_i = (Bᵀ x)_i` for six vectors `x_j = x + j·stride` of `count` floats (i, j < 6).
    @inline(__always)
    static func inputRows(
        _ x: UnsafePointer<Float>, stride s: Int, into o: UnsafeMutablePointer<Float>, outStride os: Int, count: Int
    ) {
        let x0 = x, x1 = x + s, x2 = x + 2 * s, x3 = x + 3 * s, x4 = x + 4 * s, x5 = x + 5 * s
        let o0 = o, o1 = o + os, o2 = o + 2 * os, o3 = o + 3 * os, o4 = o + 4 * os, o5 = o + 5 * os
        for k in 0..<count {
            let d0 = x0[k], d1 = x1[k], d2 = x2[k], d3 = x3[k], d4 = x4[k], d5 = x5[k]
            o0[k] = 4 * d0 - 5 * d2 + d4
            o1[k] = d3 + d4 - 4 * (d1 + d2)
            o2[k] = 4 * (d1 - d2) + d4 - d3
            o3[k] = 2 * (d3 - d1) + d4 - d2
            o4[k] = 2 * (d1 - d3) + d4 - d2
            o5[k] = 4 * d1 - 5 * d3 + d5
        }
    }

    /// `Y = Aᵀ M A` (+ bias, epilogue) for the tiles `tiles` of the output channels `channels`,
    /// written into `output` `[Cout, N, H, W]`, clipped at the image's edge.
    static func transformOutput(
        _ tiling: Tiling, products m: UnsafePointer<Float>, tiles: Range<Int>, channels: Range<Int>,
        output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, epilogue: Epilogue
    ) {
        let g = tiling.g, h = g.height, w = g.width, plane = g.batch * h * w
        let ld = tiles.count, cout = g.outChannels
        let r = UnsafeMutablePointer<Float>.allocate(capacity: (24 + 16) * chunk)
        defer { r.deallocate() }
        let y = r + 24 * chunk
        for co in channels {
            let b = bias?[co] ?? 0
            var first = tiles.lowerBound
            while first < tiles.upperBound {
                let count = min(chunk, tiles.upperBound - first)
                let src = m + co * ld + (first - tiles.lowerBound)
                // Aᵀ M: down each of the 6 columns (ξ = i·6 + j, row stride 6·Cout·ld), then
                // (Aᵀ M) A along each of the 4 rows.
                for j in 0..<6 {
                    outputRows(src + j * cout * ld, stride: 6 * cout * ld, into: r + j * chunk, outStride: 6 * chunk,
                               count: count, bias: 0)
                }
                for i in 0..<4 {
                    outputRows(r + i * 6 * chunk, stride: chunk, into: y + i * 4 * chunk, outStride: chunk,
                               count: count, bias: b)
                }
                if case let .prelu(slope) = epilogue {
                    let a = slope[co]
                    for row in 0..<16 {
                        let v = y + row * chunk
                        for k in 0..<count { v[k] = v[k] < 0 ? v[k] * a : v[k] }
                    }
                }
                let dst = output + co * plane
                var residual: UnsafePointer<Float>?
                if case let .add(res) = epilogue { residual = res + co * plane }
                for k in 0..<count {
                    let (n, y0, x0) = tiling.origin(first + k)
                    let base = n * h * w + y0 * w + x0
                    let rows = min(4, h - y0), cols = min(4, w - x0)
                    for i in 0..<rows {
                        let o = dst + base + i * w
                        let v = y + i * 4 * chunk + k
                        if let residual {
                            let rr = residual + base + i * w
                            for j in 0..<cols { o[j] = v[j * chunk] + rr[j] }
                        } else {
                            for j in 0..<cols { o[j] = v[j * chunk] }
                        }
                    }
                }
                first += count
            }
        }
    }

    /// `out_i = (Aᵀ x)_i + bias` for six vectors `x_j = x + j·stride` of `count` floats (i < 4).
    @inline(__always)
    static func outputRows(
        _ x: UnsafePointer<Float>, stride s: Int, into o: UnsafeMutablePointer<Float>, outStride os: Int,
        count: Int, bias: Float
    ) {
        let x0 = x, x1 = x + s, x2 = x + 2 * s, x3 = x + 3 * s, x4 = x + 4 * s, x5 = x + 5 * s
        let o0 = o, o1 = o + os, o2 = o + 2 * os, o3 = o + 3 * os
        for k in 0..<count {
            let m0 = x0[k], m1 = x1[k], m2 = x2[k], m3 = x3[k], m4 = x4[k], m5 = x5[k]
            let s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4
            o0[k] = m0 + s12 + s34 + bias
            o1[k] = d12 + 2 * d34 + bias
            o2[k] = s12 + 4 * s34 + bias
            o3[k] = d12 + 8 * d34 + m5 + bias
        }
    }
}

/// 3x3 weights transformed for `Winograd.convolve`: `U = G g Gᵀ` (6x6) for every output and
/// input channel, computed in Double once at load and kept as 36 GEMM operands `[Cout, Cin]`.
/// Four times the memory of the 3x3 weights.
public struct WinogradWeights: Sendable {
    public let inChannels: Int
    public let outChannels: Int
    /// `[36, Cout, Cin]`: `values[(ξ·Cout + co)·Cin + ci] = (G g[co, ci] Gᵀ)_ξ`.
    public let values: [Float]

    /// Transforms PyTorch-layout weights `[Cout, Cin, 3, 3]`.
    public init(_ weights: UnsafeBufferPointer<Float>, outChannels: Int, inChannels: Int) {
        precondition(weights.count == outChannels * inChannels * 9, "3x3 weights: \(outChannels)x\(inChannels)x3x3")
        self.inChannels = inChannels
        self.outChannels = outChannels
        let gm: [[Double]] = [
            [1.0 / 4, 0, 0],
            [-1.0 / 6, -1.0 / 6, -1.0 / 6],
            [-1.0 / 6, 1.0 / 6, -1.0 / 6],
            [1.0 / 24, 1.0 / 12, 1.0 / 6],
            [1.0 / 24, -1.0 / 12, 1.0 / 6],
            [0, 0, 1],
        ]
        let pairs = outChannels * inChannels
        values = [Float](unsafeUninitializedCapacity: 36 * pairs) { u, initialized in
            let t = UnsafeMutablePointer<Double>.allocate(capacity: 18)
            defer { t.deallocate() }
            for pair in 0..<pairs {
                let k = weights.baseAddress! + pair * 9
                // t = G g (6x3), then U = t Gᵀ (6x6).
                for i in 0..<6 {
                    for j in 0..<3 {
                        t[i * 3 + j] = gm[i][0] * Double(k[j]) + gm[i][1] * Double(k[3 + j]) + gm[i][2] * Double(k[6 + j])
                    }
                }
                for i in 0..<6 {
                    for j in 0..<6 {
                        let value = t[i * 3] * gm[j][0] + t[i * 3 + 1] * gm[j][1] + t[i * 3 + 2] * gm[j][2]
                        u[(i * 6 + j) * pairs + pair] = Float(value)
                    }
                }
            }
            initialized = 36 * pairs
        }
    }
}
